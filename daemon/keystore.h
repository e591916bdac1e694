/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The parent's side of the key holder (keystore.c): start it, load key files
 * into it, bring it back when it dies. See keyholder.h for the process.
 */
#ifndef KTLSD_KEYSTORE_H
#define KTLSD_KEYSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <openssl/evp.h>

#include "keyholder.h"

/* Start the key holder as USER ("" or NULL: ktlsd) unless it runs. */
int keystore_start(const char *user, char *err, size_t errlen);
/* Close the channels; the key holder exits. */
void keystore_stop(void);
pid_t keystore_pid(void);
/* Our end of the load channel, which no child may keep (-1: none). */
int keystore_load_fd(void);
/* A new sign channel for a network process: its signer's ends in *OUT.
 * 0, or -1 (then *OUT holds -1s). */
int keystore_new_signer(struct kh_signer *out);
/*
 * PATH's private key, held by the key holder (started as USER if it does
 * not run yet): returns a keyproxy key for a
 * TLS context and its public half in *PUB (the caller frees both). NULL with
 * *NO_KEY when the file holds no private key, else NULL with a sentence in
 * ERR (unreadable, mode open to group or others unless ALLOW_INSECURE,
 * unsupported key type).
 */
EVP_PKEY *keystore_load(const char *user, const char *path, bool allow_insecure,
			EVP_PKEY **pub, bool *no_key, char *err, size_t errlen);
/* PID has exited (HOW says how): if it was the key holder, start a new one
 * and give it every key again. True when PID was the key holder. */
bool keystore_child_exited(pid_t pid, const char *how);

#endif
