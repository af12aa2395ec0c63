#!/usr/bin/env python3
"""A loopback HTTP peer for the transport tests: redirects, and logs what reaches it.

Usage: redirect_server.py PORT
  GET /same/NAME  -> 302 to /target/NAME on this host and port
  GET /away/NAME  -> 302 to http://localhost:PORT/target/NAME (another host name, same server)
  GET /target/NAME -> 200 "reached NAME"
Every request is logged to stdout as: PATH HOST AUTHORIZATION
"""
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        print(self.path, self.headers.get("Host"), self.headers.get("Authorization"), flush=True)
        port = self.server.server_address[1]
        if self.path.startswith("/same/"):
            self.redirect("/target/" + self.path[len("/same/"):])
        elif self.path.startswith("/away/"):
            self.redirect("http://localhost:%d/target/%s" % (port, self.path[len("/away/"):]))
        elif self.path.startswith("/target/"):
            body = ("reached " + self.path[len("/target/"):]).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

    def redirect(self, location):
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
