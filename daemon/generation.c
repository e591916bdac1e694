// SPDX-License-Identifier: GPL-2.0
/*
 * Generations: a loaded configuration plus one SSL_CTX per secure port.
 *
 * Reload never edits a running generation. It builds a complete new one
 * (parse, resolve, load every credential); only if all of that succeeds is
 * the new generation made current. A failing reload therefore changes
 * nothing. Sessions hold a reference to the generation they were accepted
 * under, so certificate rotation applies to the next handshake while
 * established sessions keep running on what they negotiated.
 */
#include <stdlib.h>
#include <sys/mman.h>
#include <openssl/ssl.h>

#include "ktlsd.h"
#include "keystore.h"
#include "ktls.h"
#include "log.h"
#include "redirect.h"

struct daemon_state g_daemon = { .gen_lock = PTHREAD_MUTEX_INITIALIZER };
struct daemon_counters g_counters;

_Static_assert(sizeof(g_counters) % 4096 == 0,
	       "g_counters must fill whole pages: nothing else may be shared");

int counters_share(void)
{
	void *p = mmap(&g_counters, sizeof(g_counters), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0);

	return p == MAP_FAILED ? -1 : 0;
}

static void generation_free(struct generation *gen)
{
	if (!gen)
		return;
	for (int i = 0; gen->port_ctx && i < gen->cfg->n_ports; i++)
		SSL_CTX_free(gen->port_ctx[i]);
	free(gen->port_ctx);
	for (int i = 0; gen->conn_ctx && i < gen->cfg->n_conns; i++)
		SSL_CTX_free(gen->conn_ctx[i]);
	free(gen->conn_ctx);
	redirect_plan_free(gen->redirect);
	config_free(gen->cfg);
	free(gen);
}

/* Settings every context needs for a safe handoff to the kernel. */
static void prepare_for_handoff(SSL_CTX *ctx, const struct cfg_daemon *d)
{
	bool handoff_possible = g_daemon.ktls_available &&
				d->offload != OFFLOAD_OFF;

	/* Exact-size reads when a handoff can follow: nothing may sit in
	 * OpenSSL's buffer then. When none can, read-ahead lets one read()
	 * bring several records (a handshake's flight, a burst of data)
	 * instead of two reads for each record, its header and its body. */
	SSL_CTX_set_read_ahead(ctx, !handoff_possible);
	/* TLS 1.3 tickets would be sent under the application key before the
	 * kernel takes over and shift its sequence numbers. */
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS |
			      SSL_MODE_ENABLE_PARTIAL_WRITE |
			      SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* The traffic secrets of TLS 1.3 reach us only through this hook.
	 * OpenSSL formats every secret byte by byte for it (a few percent of
	 * a handshake's CPU), so it is set only when a handoff can happen. */
	if (handoff_possible)
		SSL_CTX_set_keylog_callback(ctx, ktls_keylog_cb);
}

struct generation *generation_build(const char *path, FILE *diag)
{
	struct generation *gen = calloc(1, sizeof(*gen));
	char why[256];
	int errors;

	if (!gen)
		return NULL;
	errors = config_load(path, &gen->cfg, diag);
	if (errors || !gen->cfg) {
		free(gen);
		return NULL;
	}
	/* Private keys are loaded into the key holder, never here. */
	if (keystore_start(gen->cfg->daemon.user, why, sizeof(why)) < 0) {
		fprintf(diag, "%s: error: [ktlsd] user: %s\n", path, why);
		goto fail;
	}
	gen->port_ctx = calloc(gen->cfg->n_ports ? gen->cfg->n_ports : 1,
			       sizeof(*gen->port_ctx));
	if (!gen->port_ctx)
		goto fail;
	for (int i = 0; i < gen->cfg->n_ports; i++) {
		gen->port_ctx[i] = creds_server_ctx(gen->cfg, &gen->cfg->ports[i],
						    diag);
		if (!gen->port_ctx[i])
			errors++;
		else
			prepare_for_handoff(gen->port_ctx[i], &gen->cfg->daemon);
	}
	/* Client connections: their credentials, and where they redirect. */
	gen->conn_ctx = calloc(gen->cfg->n_conns ? gen->cfg->n_conns : 1,
			       sizeof(*gen->conn_ctx));
	if (!gen->conn_ctx)
		goto fail;
	for (int i = 0; i < gen->cfg->n_conns; i++) {
		gen->conn_ctx[i] = creds_client_ctx(gen->cfg, &gen->cfg->conns[i],
						    diag);
		if (!gen->conn_ctx[i])
			errors++;
		else
			prepare_for_handoff(gen->conn_ctx[i], &gen->cfg->daemon);
	}
	errors += redirect_plan_build(gen->cfg, &gen->redirect, diag);
	if (errors)
		goto fail;
	atomic_init(&gen->refs, 1);
	gen->loaded_at = time(NULL);
	return gen;
fail:
	generation_free(gen);
	return NULL;
}

struct generation *generation_get(void)
{
	struct generation *gen;

	pthread_mutex_lock(&g_daemon.gen_lock);
	gen = atomic_load(&g_daemon.gen);
	if (gen)
		atomic_fetch_add(&gen->refs, 1);
	pthread_mutex_unlock(&g_daemon.gen_lock);
	return gen;
}

void generation_put(struct generation *gen)
{
	if (gen && atomic_fetch_sub(&gen->refs, 1) == 1)
		generation_free(gen);
}

void generation_install(struct generation *gen)
{
	struct generation *old;

	pthread_mutex_lock(&g_daemon.gen_lock);
	old = atomic_exchange(&g_daemon.gen, gen);
	pthread_mutex_unlock(&g_daemon.gen_lock);
	generation_put(old);
}
