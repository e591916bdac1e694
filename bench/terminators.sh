# SPDX-License-Identifier: GPL-2.0
# Sourced by bench/run: how to configure and start each TLS terminator with
# one worker (thread or process), in front of the same two plaintext
# backends, listening on loopback. Each start_NAME writes its configuration
# into $W, starts the terminator pinned to $TERM_CPU and sets TERM_PID.
#
# Inputs: $W (work dir), $CERT/$KEY/$CERTKEY (PEM files), $ECHO_PORT and
# $SOURCE_PORT (backends), $P_ECHO and $P_SOURCE (TLS ports to listen on),
# $IDLE_BIG (the most sessions held at once: HAProxy refuses to start when
# its maxconn needs more descriptors than RLIMIT_NOFILE allows), and
# optionally $TERM_WRAP (a command the terminator runs under, such as
# valgrind) with $START_WAIT (seconds to wait for it to listen; default 20).
# shellcheck disable=SC2034 # TERM_PID is for the caller
# shellcheck disable=SC2086 # $TERM_WRAP is a command line: split it
TERM_WRAP=${TERM_WRAP:-}
START_WAIT=${START_WAIT:-20}

start_ktlsd() {
	cat >"$W/ktlsd.conf" <<EOF
[ktlsd]
workers = 1
offload = auto
max-handshakes = 4096
control-socket = $W/ktlsd.control
# The throwaway key is shared with nginx, whose workers read it as nobody.
allow-insecure-key-permissions = yes
[security]
certificate = $CERT
certificate-key = $KEY
trusted-ca = $CERT
[port Bench:echo]
listen = 127.0.0.1:$P_ECHO
backend = 127.0.0.1:$ECHO_PORT
transport = tls=1
[port Bench:source]
listen = 127.0.0.1:$P_SOURCE
backend = 127.0.0.1:$SOURCE_PORT
transport = tls=1
EOF
	taskset -c "$TERM_CPU" $TERM_WRAP "$BUILD/ktlsd" -c "$W/ktlsd.conf" \
		>"$W/ktlsd.out" 2>"$W/ktlsd.log" &
	TERM_PID=$!
	wait_line "$W/ktlsd.out" "ktlsd ready" "$START_WAIT"
}

# Debian's stunnel runs one thread per connection (its pthread model);
# pinning it to one CPU is what makes it a one-core terminator.
start_stunnel() {
	cat >"$W/stunnel.conf" <<EOF
foreground = yes
pid =
debug = 3
[echo]
accept = 127.0.0.1:$P_ECHO
connect = 127.0.0.1:$ECHO_PORT
cert = $CERT
key = $KEY
options = NO_TICKET
[source]
accept = 127.0.0.1:$P_SOURCE
connect = 127.0.0.1:$SOURCE_PORT
cert = $CERT
key = $KEY
options = NO_TICKET
EOF
	taskset -c "$TERM_CPU" $TERM_WRAP stunnel4 "$W/stunnel.conf" \
		>"$W/stunnel.out" 2>"$W/stunnel.log" &
	TERM_PID=$!
	wait_listen "$P_ECHO" && wait_listen "$P_SOURCE"
}

start_haproxy() {
	cat >"$W/haproxy.cfg" <<EOF
global
	nbthread 1
	maxconn $(( ${IDLE_BIG:-1000} + 50 ))
defaults
	mode tcp
	timeout connect 5s
	timeout client 600s
	timeout server 600s
frontend echo
	bind 127.0.0.1:$P_ECHO ssl crt $CERTKEY no-tls-tickets
	default_backend echo
frontend source
	bind 127.0.0.1:$P_SOURCE ssl crt $CERTKEY no-tls-tickets
	default_backend source
backend echo
	server s 127.0.0.1:$ECHO_PORT
backend source
	server s 127.0.0.1:$SOURCE_PORT
EOF
	taskset -c "$TERM_CPU" $TERM_WRAP haproxy -db -f "$W/haproxy.cfg" \
		>"$W/haproxy.out" 2>"$W/haproxy.log" &
	TERM_PID=$!
	wait_listen "$P_ECHO" && wait_listen "$P_SOURCE"
}

NGINX_STREAM=/usr/lib/nginx/modules/ngx_stream_module.so

# nginx-light builds the stream module as a dynamic module
# (--with-stream=dynamic), shipped in libnginx-mod-stream.
nginx_usable() {
	command -v nginx >/dev/null 2>&1 || return 1
	nginx -V 2>&1 | grep -q -- '--with-stream' || return 1
	[ -e "$NGINX_STREAM" ]
}

start_nginx() {
	local user=
	# A worker that switched to nobody is no longer dumpable, and
	# callgrind_control (vgdb) cannot reach it without CAP_SYS_PTRACE.
	[ -n "$TERM_WRAP" ] && user="user root;"
	cat >"$W/nginx.conf" <<EOF
load_module $NGINX_STREAM;
$user
worker_processes 1;
worker_rlimit_nofile 20000;
daemon off;
pid $W/nginx.pid;
error_log $W/nginx.log error;
events { worker_connections 20000; }
stream {
	ssl_certificate $CERT;
	ssl_certificate_key $KEY;
	ssl_session_tickets off;
	ssl_protocols TLSv1.2 TLSv1.3;	# 1.22 leaves TLS 1.3 out by default
	server { listen 127.0.0.1:$P_ECHO ssl; proxy_pass 127.0.0.1:$ECHO_PORT; }
	server { listen 127.0.0.1:$P_SOURCE ssl; proxy_pass 127.0.0.1:$SOURCE_PORT; }
}
EOF
	taskset -c "$TERM_CPU" $TERM_WRAP nginx -e "$W/nginx.log" -p "$W" -c "$W/nginx.conf" \
		>"$W/nginx.out" 2>&1 &
	TERM_PID=$!
	wait_listen "$P_ECHO" && wait_listen "$P_SOURCE"
}
