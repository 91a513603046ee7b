import http.server, ssl, json, sys, os
out = sys.argv[1]; os.makedirs(out, exist_ok=True)
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers['content-length']); body = self.rfile.read(n)
        r = json.loads(body); req = r['request']
        name = f"{req['operation'].lower()}-{req['kind']['kind'].lower()}-{req.get('name') or 'x'}{'-dryrun' if req.get('dryRun') else ''}.json"
        with open(os.path.join(out, name), 'w') as f: json.dump(r, f, indent=2); f.write('\n')
        resp = json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": {"uid": req['uid'], "allowed": True}}).encode()
        self.send_response(200); self.send_header('content-type','application/json'); self.send_header('content-length', str(len(resp))); self.end_headers(); self.wfile.write(resp)
    def log_message(self, *a): pass
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain('w.crt', 'w.key')
s = http.server.HTTPServer(('127.0.0.1', 28443), H); s.socket = ctx.wrap_socket(s.socket, server_side=True); s.serve_forever()
