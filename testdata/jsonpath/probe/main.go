// The client-go side of tests/argo_web_jsonpath.rs (see ../gen.py for how to build it).
// Reads JSON strings (one per line); prints one JSON object per line: {"parse": "ok" or
// Parse's error, "eval": [per body: FindResults' error, getValue's "result of web metric
// produced no value", or ""], "values": [Argo's getValue on the bodies where both succeeded, as
// JSON]}, as argo-rollouts' web provider does it (jsonpath.New("metrics"), Parse, FindResults,
// getValue).
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"reflect"

	"probe/jsonpath"
)

var bodies = []string{`{}`, `{"data":{"ok":true}}`, `{"a":[1,2,3],"items":[{"name":"x"}]}`, `[]`, `"s"`, `{"a":[],"items":[]}`}

// argo-rollouts metricproviders/webmetric/webmetric.go getValue
func getValue(fullResults [][]reflect.Value) (any, bool) {
	for _, results := range fullResults {
		for _, r := range results {
			return r.Interface(), true
		}
	}
	return nil, false
}

func main() {
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	for sc.Scan() {
		var path string
		if err := json.Unmarshal(sc.Bytes(), &path); err != nil {
			panic(err)
		}
		res := map[string]any{}
		func() {
			defer func() {
				if r := recover(); r != nil {
					res["panic"] = fmt.Sprint(r)
				}
			}()
			j := jsonpath.New("metrics")
			if err := j.Parse(path); err != nil {
				res["parse"] = err.Error()
				return
			}
			res["parse"] = "ok"
			evals := []string{}
			values := []string{}
			for _, b := range bodies {
				var data any
				json.Unmarshal([]byte(b), &data)
				j := jsonpath.New("metrics")
				j.Parse(path)
				full, err := j.FindResults(data)
				if err != nil {
					evals = append(evals, err.Error())
				} else {
					if v, ok := getValue(full); ok {
						evals = append(evals, "")
						j, _ := json.Marshal(v)
						values = append(values, string(j))
					} else {
						evals = append(evals, "result of web metric produced no value")
					}
				}
			}
			res["eval"] = evals
			res["values"] = values
		}()
		b, _ := json.Marshal(res)
		out.Write(b)
		out.WriteString("\n")
	}
}
