"""Paths for tests/argo_web_jsonpath.rs (testdata/jsonpath/client-go.jsonl): realistic ones, mistakes, random token strings.

Regenerate (needs Go; client-go v0.34.5 util/jsonpath/{parser,node,jsonpath}.go in probe/jsonpath/ and
third_party/forked/golang/template/{exec,funcs}.go in probe/template/, the import path of the latter
changed to probe/template):
  python3 gen.py > /tmp/cases.jsonl && (cd probe && go build -o /tmp/probe .) && /tmp/probe < /tmp/cases.jsonl > /tmp/go.jsonl
  python3 gen.py --merge /tmp/cases.jsonl /tmp/go.jsonl > client-go.jsonl
Reproducible except for `values` of wildcards over objects (Go map order: Argo's result is then
an arbitrary member).
"""
import json, random, sys
random.seed(20261122)
real = [
 "{$}", "{$.data.ok}", "{$.message}", "{$.results.ok}", "{$.key[0].key2.value}", "{$.key}", "{$.key[0].key2.novalue}",
 "{.kind}", "{.items[*].metadata.name}", "{.items[0]}", "{.items[-1:]}", "{.items[1:3:2]}", "{.items[0,1].name}",
 "{.items['name']}", "{['book.price']}", "{..name}", "{$..book[?(@.price<10)].title}",
 '{.items[?(@.status.phase=="Running")].metadata.name}', "{.items[?(@.a=='b')]}", "{.items[?(@.isbn)]}",
 '{range .items[*]}{.metadata.name}{"\\n"}{end}', "{.metadata.labels.app\\.kubernetes\\.io/name}", "{.a-b}",
 "{$.data.ok}\n", "{true}", "{1.5}", "{.items[ 0 , 1 ]}", "{$.a}{$.b}", "{.a[]}",
 "{$.data.result[0].value[1]}", "{$.data.result[*].value[1]}", "$.data.ok", "data.ok", "{data.ok}", "{$.data.ok",
 '{$["data"]["ok"]}', "{$['data']['ok']}", "{.items[?@.ok == true]}", "{.a == 1}", "{.a}{end}", "value: {$.x}", " {$.x}",
 "{ $.data.ok }", "{$.data.ok }", "{.a[?(@.b=1)]}", "{.a[?(@.b===1)]}", "{.a[?(@.b==)]}", "{.a[?(@.b)]}", "{.a[?(@.b)x]}",
 "{.a[?(@.b=='x)']}", "{.a[?(@.b==\"x)\")]}", "{.a['b c']}", "{.a['b.c']}", "{.a['b{c']}", "{.a['b}c']}", "{.a['']}",
 "{.}", "{..}", "{...a}", "{....a}", "{..[0]}", "{.a..b}", "{$.a[0:]}", "{$.a[:2]}", "{$.a[::2]}", "{$.a[::0]}", "{$.a[1:2:3:4]}",
 "{$.a[-]}", "{$.a[:-]}", "{$.a[+1]}", "{$.a[ 1]}", "{$.a[1 ]}", "{$.a[a]}", "{$.a[*]}", "{$.a[*,0]}", "{$.a[0,'b']}",
 "{$.a[0,\"b\"]}", "{range .a}{.b}{end}", "{range .a}{.b}", "{end}", "{range}", "{foo}", "{.a foo}", "{.a true}", "{-1}",
 "{+}", "{1.2.3}", "{.a\t}", "{.a\n}", "{.a\r}", "{\"abc\"}", "{'abc'}", "{\"a\\qb\"}", "{\"a\\nb\"}", "{'a\\'b'}",
 "{\"a\\'b\"}", "{'a\\\"b'}", "{\"\\x41\"}", "{\"\\u00e9\"}", "{\"\\U0001F600\"}", "{\"\\uD800\"}", "{\"\\101\"}", "{\"\\400\"}",
 "{\"\\x4\"}", "{\"a", "{.a[0}", "{.a[?(@.b==1]}", "{.a[?(@.b==1)}", "}", "}{", "{}", "{ }", "{$$}", "{@}", "{.a@b}",
 "{.a$}", "{.é}", "{é}", "{.a[é]}", "{..é}", "{1é}", "{\"é\"}", "{{.a}}", "{{args.path}}", "{.a}}", "{.a,b}", "{.a[0][1]}",
 "{.a[?(@.b[0]==1)]}", "{.a[?(@.b[0)]}", "{.a[?(@..b)]}", "{.a[?(!@.b)]}", "{.a[?(@.b!=1)]}", "{.a[?(@.b<=1)]}", "{.a[?(@.b>=1)]}",
 "{.a[?(@.b=~'x')]}", "{.a[?(@.b in ['x'])]}", "{.a[?(@.b == 'x' && @.c == 'y')]}", "{.a[?(length(@.b)>1)]}",
 "{$.a.length()}", "{$.a[(@.length-1)]}", "{$['a','b']}", "{$.*}", "{$.a.*}", "{$.a[*].*}", "{.a\\}", "{.a\\.b}", "{.a\\",
 "{.items[?(@.name='canary')].value}", '{.items[?(@.name="canary")].value}', "{.items[?(@.v=<1)]}", "{.items[?(@.v=>1)]}",
 "{.items[?(@.v<>1)]}", "{.items[?(@.v!==1)]}", "{.items[?(@.name='x')].value}\n", "{.a[?(@='x')]}", "{.a[?(@=1)]}",
 "{.items[?(@.name='x')]['a','b']}", "{.items[?(@.name='x')]\"t\"}", "{..items[?(@.name='x')]}", "{.items[*].a[?(@.b=1)].c}",
]
toks = ["{", "}", "$", "@", ".", "..", "[", "]", "[?(", ")", "(", "'", '"', "\\", ",", ":", "-", "+", "*", "0", "1", "12",
        "a", "b", "data", "range", "end", "true", " ", "\t", "\n", "=", "==", "!=", "<", ">", "é", "x", "\\n", "\\q",
        "\\x4", "\\u00e9", "1.5", "'k'", '"k"', "[0]", "[*]", ".a", "{.a}", "{$.a}"]
seen = set()
cases = []
for c in real:
    if c not in seen:
        seen.add(c); cases.append(c)
while len(cases) < 1500:
    n = random.randint(1, 10)
    s = "".join(random.choice(toks) for _ in range(n))
    if random.random() < 0.6:
        s = "{" + s + "}"
    if s not in seen:
        seen.add(s); cases.append(s)


def merge(cases_file, go_file):
    """One line per path: client-go's parse result; for a path that parses, whether evaluation
    failed on every body, the distinct errors, and the distinct getValue results (JSON)."""
    with open(cases_file) as a, open(go_file) as b:
        for x, y in zip(a, b):
            r = json.loads(y)
            assert "panic" not in r, (x, r)
            out = {"path": json.loads(x), "parse": r["parse"]}
            if r["parse"] == "ok":
                out["fails"] = all(e for e in r["eval"])
                out["errors"] = sorted(set(e for e in r["eval"] if e))
                out["values"] = sorted(set(r["values"]))
            print(json.dumps(out, ensure_ascii=False, separators=(",", ":")))


if len(sys.argv) == 4 and sys.argv[1] == "--merge":
    merge(sys.argv[2], sys.argv[3])
else:
    for c in cases:
        print(json.dumps(c))
