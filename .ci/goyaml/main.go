// goyaml-decode: decodes YAML files the way kubectl and the apiserver do, for rollgate's
// differential test (tests/goyaml.rs). Built offline from Debian's golang-go,
// golang-gopkg-yaml.v2-dev and golang-github-ghodss-yaml-dev by .ci/goyaml.sh (GOPATH mode).
//
// A file is split into documents like k8s.io/apimachinery's YAMLReader (pkg/util/yaml/decoder.go,
// Kubernetes 1.20: a line that is `---` plus trailing whitespace ends a document), and each
// document is converted with ghodss/yaml's YAMLToJSON (gopkg.in/yaml.v2 into interface{}, map
// keys made strings, then encoding/json): the code sigs.k8s.io/yaml was forked from.
//
// Input: one path per line on stdin. Output: one JSON object per line,
// {"path": P, "docs": [V, ...]} with the non-null documents, or {"path": P, "error": E}.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io/ioutil"
	"os"
	"strings"
	"unicode"

	"github.com/ghodss/yaml"
)

// documents splits like YAMLReader.Read of Kubernetes 1.20.
func documents(data []byte) [][]byte {
	var docs [][]byte
	var buffer bytes.Buffer
	lines := bytes.SplitAfter(data, []byte("\n"))
	for _, line := range lines {
		if len(line) == 0 {
			continue
		}
		if bytes.HasPrefix(line, []byte("---")) {
			after := line[3:]
			if len(strings.TrimRightFunc(string(after), unicode.IsSpace)) == 0 {
				if buffer.Len() != 0 {
					docs = append(docs, append([]byte(nil), buffer.Bytes()...))
					buffer.Reset()
					continue
				}
			}
		}
		buffer.Write(line)
	}
	if buffer.Len() != 0 {
		docs = append(docs, buffer.Bytes())
	}
	return docs
}

type result struct {
	Path  string            `json:"path"`
	Docs  []json.RawMessage `json:"docs,omitempty"`
	Error string            `json:"error,omitempty"`
}

func decode(path string) result {
	r := result{Path: path}
	data, err := ioutil.ReadFile(path)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	r.Docs = []json.RawMessage{}
	for i, doc := range documents(data) {
		j, err := yaml.YAMLToJSON(doc)
		if err != nil {
			r.Error = fmt.Sprintf("document %d: %v", i, err)
			r.Docs = nil
			return r
		}
		if string(bytes.TrimSpace(j)) == "null" {
			continue
		}
		r.Docs = append(r.Docs, json.RawMessage(j))
	}
	return r
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<20)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	enc := json.NewEncoder(out)
	for in.Scan() {
		path := in.Text()
		if path == "" {
			continue
		}
		if err := enc.Encode(decode(path)); err != nil {
			fmt.Fprintf(os.Stderr, "goyaml-decode: %s: %v\n", path, err)
			os.Exit(2)
		}
	}
	if err := in.Err(); err != nil {
		fmt.Fprintf(os.Stderr, "goyaml-decode: reading paths: %v\n", err)
		os.Exit(2)
	}
}
