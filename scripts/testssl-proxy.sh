#!/usr/bin/env bash
# testssl-proxy.sh: testssl.sh (Debian package testssl.sh) against the
# proxy's TLS listener: one apigw with an ECDSA P-256 ssls certificate
# issued by a CA made here (one year, with OCSP and CRL URIs, as a real
# certificate has), testssl trusting that CA and connecting to 127.0.0.1
# as apigw.test. Writes OUT (text) and OUT.json; the findings of HIGH or
# CRITICAL severity are listed at the end (none expected).
#   scripts/testssl-proxy.sh docs/testssl.txt build-release/apigw
# Ports 18400-18407 on 127.0.0.1.
set -u
OUT=${1:?usage: testssl-proxy.sh OUT APIGW_BIN}
BIN=${2:?usage: testssl-proxy.sh OUT APIGW_BIN}
KEY=testssl-admin-key-0123456789
T=$(mktemp -d)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
  -subj "/CN=apigw testssl CA" -keyout $T/ca.key -out $T/ca.pem 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out $T/key.pem 2>/dev/null
openssl req -new -key $T/key.pem -subj /CN=apigw.test -out $T/leaf.csr 2>/dev/null
cat > $T/ext <<EOT
subjectAltName=DNS:apigw.test
extendedKeyUsage=serverAuth
keyUsage=digitalSignature
authorityInfoAccess=OCSP;URI:http://ocsp.apigw.test/
crlDistributionPoints=URI:http://crl.apigw.test/ca.crl
EOT
openssl x509 -req -in $T/leaf.csr -CA $T/ca.pem -CAkey $T/ca.key -CAcreateserial -days 365 \
  -extfile $T/ext -out $T/cert.pem 2>/dev/null
"$BIN" start --name ts --data-dir $T/data --workers 1 --log-level warn --admin-key $KEY \
  --proxy-listen 127.0.0.1:18400 --proxy-tls-listen 127.0.0.1:18401 --admin-listen 127.0.0.1:18402 \
  --etcd-listen 127.0.0.1:18403 --raft-listen 127.0.0.1:18404 --status-listen 127.0.0.1:18405 \
  --metrics-listen 127.0.0.1:18406 --control-listen 127.0.0.1:18407 > $T/log 2>&1 &
PID=$!
for _ in $(seq 100); do curl -sf -o /dev/null http://127.0.0.1:18405/status/ready && break; sleep 0.1; done
python3 -c 'import json,sys; print(json.dumps({"sni": "apigw.test", "cert": open(sys.argv[1]).read(), "key": open(sys.argv[2]).read()}))' $T/cert.pem $T/key.pem |
  curl -sf -X PUT -H "X-API-KEY: $KEY" http://127.0.0.1:18402/apisix/admin/ssls/ts --data-binary @- >/dev/null || echo "ssls PUT failed" >&2
sleep 1
timeout 1500 testssl --quiet --color 0 --warnings batch --sneaky --add-ca $T/ca.pem \
  --ip 127.0.0.1 --jsonfile "$OUT.json" apigw.test:18401 > "$OUT" 2>&1
echo "testssl exit $?" >&2
kill $PID
wait $PID
rm -rf $T
python3 - "$OUT.json" <<'EOT'
import json, sys
bad = [x for x in json.load(open(sys.argv[1])) if x["severity"] in ("HIGH", "CRITICAL")]
for x in bad:
    print("%s %s: %s" % (x["severity"], x["id"], x["finding"]))
print("HIGH or CRITICAL findings: %d" % len(bad))
sys.exit(1 if bad else 0)
EOT
