"""A test PKI made with the openssl CLI: a CA and leaf certificates (RSA or
ECDSA P-256) for the TLS tests, plus helpers that read them back."""
import os
import subprocess

from harness import tempdir


def _run(*args):
    r = subprocess.run(["openssl"] + list(args), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, (args, r.stderr)
    return r.stdout


def _read(path):
    with open(path) as f:
        return f.read()


class CA:
    """A throw-away CA in its own directory."""

    def __init__(self, name="apigw test CA"):
        self.dir = tempdir("apigw-ca-")
        self.key = os.path.join(self.dir, "ca.key")
        self.cert = os.path.join(self.dir, "ca.crt")
        _run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-keyout", self.key, "-out", self.cert, "-days", "30",
             "-subj", "/CN=" + name)
        self.n = 0

    def pem(self):
        return _read(self.cert)

    def issue(self, names, kind="ec", days=30, not_before=None, not_after=None,
              client=False, ips=()):
        """A leaf for the DNS @names (the first is the CN). kind: "ec" or
        "rsa". not_before/not_after: openssl "YYYYMMDDHHMMSSZ" texts to
        override the dates. Returns (cert PEM, key PEM, cert path, key path)."""
        self.n += 1
        base = os.path.join(self.dir, "leaf%d" % self.n)
        key, csr, crt, ext = base + ".key", base + ".csr", base + ".crt", base + ".ext"
        if kind == "rsa":
            _run("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                 "-out", key)
        else:
            _run("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                 "-out", key)
        _run("req", "-new", "-key", key, "-out", csr, "-subj", "/CN=" + names[0])
        with open(ext, "w") as f:
            f.write("subjectAltName=%s\n" % ",".join(
                ["DNS:" + n for n in names] + ["IP:" + ip for ip in ips]))
            f.write("extendedKeyUsage=%s\n" % ("clientAuth" if client else "serverAuth"))
        args = ["x509", "-req", "-in", csr, "-CA", self.cert, "-CAkey", self.key,
                "-CAcreateserial", "-out", crt, "-extfile", ext]
        if not_before or not_after:
            # openssl 3 "x509 -req" has no date flags before 3.4; use "ca"
            return self._issue_dated(names, key, csr, crt, ext, not_before, not_after)
        _run(*(args + ["-days", str(days)]))
        return _read(crt), _read(key), crt, key

    def _issue_dated(self, names, key, csr, crt, ext, not_before, not_after):
        db = os.path.join(self.dir, "index.txt")
        if not os.path.exists(db):
            open(db, "w").close()
        conf = os.path.join(self.dir, "ca.cnf")
        with open(conf, "w") as f:
            f.write("[ca]\ndefault_ca=d\n[d]\ndatabase=%s\nnew_certs_dir=%s\n"
                    "serial=%s\ndefault_md=sha256\npolicy=p\nunique_subject=no\n"
                    "[p]\ncommonName=supplied\n" % (db, self.dir,
                                                    os.path.join(self.dir, "serial")))
        serial = os.path.join(self.dir, "serial")
        if not os.path.exists(serial):
            with open(serial, "w") as f:
                f.write("1000\n")
        args = ["ca", "-batch", "-config", conf, "-cert", self.cert, "-keyfile", self.key,
                "-in", csr, "-out", crt, "-extfile", ext, "-notext"]
        if not_before:
            args += ["-startdate", not_before]
        if not_after:
            args += ["-enddate", not_after]
        _run(*args)
        return _read(crt), _read(key), crt, key


def self_signed(name="a.com"):
    """A self-signed ECDSA certificate and its key, PEM."""
    d = tempdir("apigw-ss-")
    key, crt = os.path.join(d, "k.pem"), os.path.join(d, "c.pem")
    _run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", key, "-out", crt, "-days", "30", "-subj", "/CN=" + name,
         "-addext", "subjectAltName=DNS:" + name)
    return _read(crt), _read(key)
