// SPDX-License-Identifier: GPL-2.0
/*
 * The parent's bookkeeping of private keys: which key files the key holder
 * holds under which id, and bringing the key holder back when it dies.
 *
 * The parent opens a key file (as root, so keys may stay readable by root
 * only), checks its mode, and passes the descriptor to the key holder; it
 * never reads a byte of it. The descriptor is kept for as long as a TLS
 * context uses the key, so that a restarted key holder gets the very same
 * key back under the same id, even after the file was replaced by a
 * rotation (a rename leaves the open file as it was). A key's id is freed
 * when OpenSSL frees the last reference to its keyproxy key.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>

#include "keyholder.h"
#include "keystore.h"
#include "log.h"
#include "sandbox.h"

#define DEFAULT_USER "ktlsd"

struct key_file {
	uint32_t id;
	int fd;			/* the open key file, read by the key holder */
	char path[256];		/* for messages */
};

/*
 * Guards everything below: keys are loaded by the thread that builds a
 * generation and released by whichever thread frees the last reference to
 * a context (a worker ending the last session of an old generation).
 */
static pthread_mutex_t ks_lock = PTHREAD_MUTEX_INITIALIZER;
static struct key_file *files;
static size_t n_files;
static uint32_t next_id = 1;
static int load_fd = -1;	/* our end of the load channel */
static pid_t holder_pid;
static uid_t holder_uid;
static gid_t holder_gid;
static char holder_user[64];

pid_t keystore_pid(void)
{
	return holder_pid;
}

int keystore_load_fd(void)
{
	return load_fd;
}

static void release_key(uint32_t id)
{
	pthread_mutex_lock(&ks_lock);
	for (size_t i = 0; i < n_files; i++) {
		if (files[i].id != id)
			continue;
		close(files[i].fd);
		files[i] = files[--n_files];
		if (load_fd >= 0)
			keyholder_unload(load_fd, id);
		break;
	}
	pthread_mutex_unlock(&ks_lock);
}

/* Fork a key holder with a fresh load channel, and a sign channel for this
 * process (tests and --check-config make handshakes in it). Called with
 * ks_lock held. */
static int spawn_locked(char *err, size_t errlen)
{
	struct kh_signer own = { -1, -1 };
	int lp[2];
	struct timeval tv = { .tv_sec = 5 };

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, lp) < 0) {
		snprintf(err, errlen, "socketpair: %s", strerror(errno));
		return -1;
	}
	/* A key holder that hangs must not hang a reload. */
	setsockopt(lp[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	holder_pid = keyholder_spawn(lp[1], holder_uid, holder_gid);
	close(lp[1]);
	if (holder_pid < 0) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		close(lp[0]);
		holder_pid = 0;
		return -1;
	}
	if (load_fd >= 0)
		close(load_fd);
	load_fd = lp[0];
	/* This process's own sign channel: keyproxy's channel 0. */
	keyholder_add_signer(load_fd, &own);
	keyproxy_close_signer(keyproxy_set_channel(0, own));
	return 0;
}

int keystore_new_signer(struct kh_signer *out)
{
	int rc = -1;

	*out = (struct kh_signer){ -1, -1 };
	pthread_mutex_lock(&ks_lock);
	if (load_fd >= 0)
		rc = keyholder_add_signer(load_fd, out);
	pthread_mutex_unlock(&ks_lock);
	return rc;
}

int keystore_start(const char *user, char *err, size_t errlen)
{
	int rc = 0;

	pthread_mutex_lock(&ks_lock);
	if (holder_pid > 0)
		goto out;
	if (keyproxy_init() < 0) {
		snprintf(err, errlen, "cannot register the key holder's OpenSSL provider");
		rc = -1;
		goto out;
	}
	snprintf(holder_user, sizeof(holder_user), "%s",
		 user && *user ? user : DEFAULT_USER);
	if (getuid() == 0 &&
	    sandbox_lookup_user(holder_user, &holder_uid, &holder_gid, err,
				errlen) < 0) {
		rc = -1;
		goto out;
	}
	keyproxy_set_release_hook(release_key);
	/* Sign channels are pipes: a signature asked of a key holder that
	 * died must fail, not kill this process with SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	rc = spawn_locked(err, errlen);
out:
	pthread_mutex_unlock(&ks_lock);
	return rc;
}

void keystore_stop(void)
{
	pthread_mutex_lock(&ks_lock);
	if (load_fd >= 0)
		close(load_fd);	/* the key holder exits at EOF */
	load_fd = -1;
	keyproxy_close_signer(keyproxy_set_channel(0, (struct kh_signer){ -1, -1 }));
	holder_pid = 0;
	pthread_mutex_unlock(&ks_lock);
}

bool keystore_child_exited(pid_t pid, const char *how)
{
	char err[256];

	pthread_mutex_lock(&ks_lock);
	if (pid != holder_pid || pid <= 0) {
		pthread_mutex_unlock(&ks_lock);
		return false;
	}
	log_err("key holder (pid %d) %s: starting a new one; handshakes that "
		"needed a signature meanwhile failed", (int)pid, how);
	holder_pid = 0;
	if (spawn_locked(err, sizeof(err)) < 0) {
		log_err("cannot start a new key holder: %s", err);
	} else {
		for (size_t i = 0; i < n_files; i++) {
			char why[256];
			bool no_key;
			EVP_PKEY *pub;

			lseek(files[i].fd, 0, SEEK_SET);
			pub = keyholder_load(load_fd, files[i].id, files[i].fd,
					     files[i].path, &no_key, why, sizeof(why));
			if (!pub)
				log_err("key holder: %s could not be loaded again: %s",
					files[i].path, no_key ? "no key" : why);
			EVP_PKEY_free(pub);
		}
		log_notice("key holder (pid %d) ready with %zu key(s)",
			   (int)holder_pid, n_files);
	}
	pthread_mutex_unlock(&ks_lock);
	return true;
}

/* Group or other may read or write: refuse, with the fix. */
static int check_mode(int fd, const char *path, bool allow_insecure,
		      char *err, size_t errlen)
{
	struct stat st;

	if (fstat(fd, &st) < 0) {
		snprintf(err, errlen, "cannot stat %s: %s", path, strerror(errno));
		return -1;
	}
	if (!(st.st_mode & (S_IRWXG | S_IRWXO)) || allow_insecure)
		return 0;
	snprintf(err, errlen,
		 "%s has mode %04o: a private key must be readable by its owner "
		 "only; run chmod 600 %s (or set allow-insecure-key-permissions "
		 "= yes in [ktlsd])", path, (unsigned int)(st.st_mode & 07777), path);
	return -1;
}

EVP_PKEY *keystore_load(const char *user, const char *path, bool allow_insecure,
			EVP_PKEY **pub, bool *no_key, char *err, size_t errlen)
{
	struct key_file kf = { .fd = -1 };
	EVP_PKEY *proxy = NULL;
	struct key_file *grown;

	*no_key = false;
	*pub = NULL;
	if (keystore_start(user, err, errlen) < 0)
		return NULL;
	kf.fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (kf.fd < 0) {
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
		return NULL;
	}
	snprintf(kf.path, sizeof(kf.path), "%s", path);
	pthread_mutex_lock(&ks_lock);
	if (load_fd < 0) {
		snprintf(err, errlen, "no key holder process is running");
		goto fail;
	}
	kf.id = next_id++;
	*pub = keyholder_load(load_fd, kf.id, kf.fd, path, no_key, err, errlen);
	if (!*pub)
		goto fail;
	/* Checked once the file proves to hold a key: a certificate file
	 * searched for a bundled key and holding none may be world-readable. */
	if (check_mode(kf.fd, path, allow_insecure, err, errlen) < 0)
		goto fail_loaded;
	proxy = keyproxy_key(*pub, kf.id);
	grown = proxy ? realloc(files, (n_files + 1) * sizeof(*files)) : NULL;
	if (!grown) {
		snprintf(err, errlen, "out of memory");
		goto fail_loaded;
	}
	files = grown;
	files[n_files++] = kf;
	pthread_mutex_unlock(&ks_lock);
	return proxy;
fail_loaded:
	keyholder_unload(load_fd, kf.id);
	/* Not registered yet: freeing PROXY must not release anything. */
	if (proxy) {
		pthread_mutex_unlock(&ks_lock);
		EVP_PKEY_free(proxy);
		pthread_mutex_lock(&ks_lock);
	}
	EVP_PKEY_free(*pub);
	*pub = NULL;
fail:
	pthread_mutex_unlock(&ks_lock);
	close(kf.fd);
	return NULL;
}
