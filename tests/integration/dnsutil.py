"""A tiny authoritative DNS server for the tests, on 127.0.0.1 (UDP).

It answers A and AAAA queries for the names in `records` ({name: [ip,
...]}, IPv4 and IPv6 addresses mixed: each query type gets its own family)
with `ttl`, NXDOMAIN for other names, and an empty NOERROR answer for other
types. A test changes `records` and `ttl` at any time; `queries`
counts the questions per name. stop() closes the socket (the server is then
"down": queries time out); start() binds the same port again.
Only the little of RFC 1035 that a stub resolver's question needs."""
import socket
import struct
import threading

from harness import free_port


class DNSServer:
    def __init__(self, records=None, ttl=1):
        self.port = free_port()
        self.records = dict(records or {})
        self.ttl = ttl
        self.queries = {}
        self.sock = None
        self.start()

    @property
    def addr(self):
        return "127.0.0.1:%d" % self.port

    def start(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.settimeout(0.05)  # the loop looks at `stopping` this often
        self.stopping = False
        self.thread = threading.Thread(target=self._serve, args=(self.sock,), daemon=True)
        self.thread.start()
        return self

    def stop(self):
        if self.sock is not None:
            self.stopping = True
            self.thread.join()
            s, self.sock = self.sock, None
            s.close()  # the port is free again when this returns

    def _serve(self, sock):
        while not self.stopping:
            try:
                data, peer = sock.recvfrom(512)
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                out = self._answer(data)
            except (IndexError, struct.error, UnicodeDecodeError):
                continue  # not a question we understand: no answer
            try:
                sock.sendto(out, peer)
            except OSError:
                return

    def _answer(self, data):
        qid, flags, qd = struct.unpack("!HHH", data[:6])
        # the question: labels, then type and class
        pos, labels = 12, []
        while data[pos] != 0:
            n = data[pos]
            labels.append(data[pos + 1:pos + 1 + n].decode("ascii"))
            pos += 1 + n
        qtype, qclass = struct.unpack("!HH", data[pos + 1:pos + 5])
        question = data[12:pos + 5]
        name = ".".join(labels).lower()
        self.queries[name] = self.queries.get(name, 0) + 1
        ips = self.records.get(name)
        rd = flags & 0x0100
        if ips is None:
            # NXDOMAIN, authoritative
            return struct.pack("!HHHHHH", qid, 0x8403 | rd, 1, 0, 0, 0) + question
        answers = b""
        count = 0
        if qtype == 1:
            for ip in ips:
                if ":" not in ip:
                    answers += struct.pack("!HHHIH", 0xC00C, 1, 1, self.ttl, 4)
                    answers += socket.inet_aton(ip)
                    count += 1
        elif qtype == 28:
            for ip in ips:
                if ":" in ip:
                    answers += struct.pack("!HHHIH", 0xC00C, 28, 1, self.ttl, 16)
                    answers += socket.inet_pton(socket.AF_INET6, ip)
                    count += 1
        return struct.pack("!HHHHHH", qid, 0x8400 | rd, 1, count, 0, 0) + question + answers
