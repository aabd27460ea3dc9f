/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The binder carries out one IOMMU group's plan as a transaction: exactly the steps the
 * planner made for it (plan_group.members[].steps, what a dry run prints), in order, each
 * journaled first. After a member's last step it is verified (the driver link, the /dev/vfio
 * or /dev/uio node), after the last one the group's viability (viability_check() on what sysfs
 * shows), and then the claims are committed to the journal. When a step, a verification or a
 * journal write fails, the members already moved go back, in reverse order, by steps of the
 * same builder (plan_move_steps()) made from what sysfs shows then. Steps run on a worker
 * thread, so the event loop never waits for the kernel or the disk; a step that passes its
 * deadline is reported stuck while the daemon serves on. One transaction runs at a time: the
 * caller plans the next one when the binder is idle (binder_run() refuses while one runs).
 *
 * The journal (STATE_DIR/claims.json, written to a temporary file, fsynced and renamed before
 * every step) holds the claims — for every function pcipass moved, the driver and override it
 * had — and the transaction in flight, so that a daemon killed at any point can undo it.
 */

#include <stdbool.h>
#include <stdint.h>

#include <systemd/sd-event.h>

#include <json-c/json.h>

#include "planner.h"

struct sysfs;
struct kmodule;
struct binder;

enum txn_kind {
	TXN_CLAIM,	/* to a passthrough driver */
	TXN_RELEASE,	/* back to the host */
	TXN_UNDO,	/* a transaction found in flight at start, put back */
};

enum txn_state {
	TXN_NEW,
	TXN_RUNNING,
	TXN_DONE,
	TXN_FAILED,	/* and rolled back (or the rollback failed too: see rollback_error) */
};

struct txn_member {
	char *address;
	char *from_driver, *from_override;	/* what it had when planned: rollback returns there */
	char *target;		/* the driver it goes to; NULL: the kernel's choice (a release
				 * with no claim record) */
	bool release;		/* back to the host, ending its claim */
	int64_t group;
	char *rule, *pool;	/* for the claim record */
	bool moved;		/* some step changed it */
	char *bound_meanwhile;	/* the worker's: the driver the kernel bound it to behind our
				 * back, where a rollback leaves it */
};

struct txn {
	uint64_t id;
	enum txn_kind kind;
	enum txn_state state;
	int64_t group;
	bool require_viable;	/* a vfio claim: the group must be viable at the end */
	struct txn_member *members;
	size_t n_members;
	struct plan_step *steps;
	size_t *step_member;	/* steps[i] belongs to members[step_member[i]] */
	size_t n_steps;

	size_t step;		/* the step running (or that failed) */
	bool stuck;		/* the running step passed its deadline */
	uint64_t step_started_usec;
	/* on failure */
	int error;		/* negative errno */
	char *error_member, *error_step, *error_message;
	char *rollback_error;	/* NULL: rolled back cleanly */

	void (*done)(struct txn *t, void *userdata);	/* on the event loop */
	void *userdata;

	/* Made by the worker: the claims once this transaction is committed. */
	struct claim *claims_after;
	size_t n_claims_after;
};

struct binder_config {
	struct sysfs *sysfs;
	const char *dev_root;
	const char *state_dir;
	struct kmodule *kmod;	/* modules are loaded only on the real /sys */
	bool real_sysfs;
	bool dma_ownership;	/* the kernel's viability rule, as in host_facts */
	uint64_t step_timeout_usec;
	/* Told of progress (for Monitor): a step started, got stuck, a transaction ended. */
	void (*progress)(const struct txn *t, const char *what, void *userdata);
	void *userdata;
};

int binder_new(sd_event *event, const struct binder_config *config, struct binder **ret);
/*
 * Frees b and returns NULL; or, when a transaction's step is still running (stuck in the
 * kernel), leaves b and everything its worker uses alone and returns b: the caller must not
 * free the sysfs it shares.
 */
struct binder *binder_free(struct binder *b);

/*
 * Reads the journal: the claims, and a transaction found in flight (returned as an undo
 * transaction in *ret_undo, to be submitted first; NULL when there was none).
 */
int binder_load(struct binder *b, struct txn **ret_undo);

/*
 * The transaction that carries out one planned group: its members that bind or release, with
 * their steps exactly as planned. -ENODATA when no member acts.
 */
int txn_new_from_plan(const struct plan_group *g, struct txn **ret);
struct txn *txn_free(struct txn *t);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct txn *, txn_free)

/*
 * Starts t (taking it); done is called on the event loop when it has ended, then t is freed.
 * -EBUSY (t not taken) while another transaction runs.
 */
int binder_run(struct binder *b, struct txn *t);
/*
 * A task: sysfs work outside any transaction (a ROM read, VF autoprobe off), run on the worker
 * thread like a transaction's steps, so that it never runs on the event loop nor beside a
 * transaction. fn runs on the worker with the binder's sysfs; done on the event loop with fn's
 * result. -EBUSY while a transaction or task runs.
 */
typedef int (*binder_task_fn)(struct sysfs *s, void *userdata);
int binder_run_task(struct binder *b, binder_task_fn fn, void (*done)(int r, void *userdata),
		    void *userdata);
/* A transaction or a task runs. */
bool binder_busy(const struct binder *b);

const struct claim *binder_find_claim(const struct binder *b, const char *address);
size_t binder_n_claims(const struct binder *b);
const struct claim *binder_claim(const struct binder *b, size_t i);
/* All of them, for planning (plan_env.claims). */
const struct claim *binder_claims(const struct binder *b, size_t *ret_n);
/* Forgets claims of functions no longer on their passthrough driver (adoption at start). */
int binder_adopt(struct binder *b, const struct model *m);

int txn_to_json(const struct txn *t, json_object **ret);
int claim_to_json(const struct claim *c, json_object **ret);
/* The running transaction, for status; NULL when idle. */
const struct txn *binder_running(const struct binder *b);

const char *txn_kind_to_string(enum txn_kind k);
const char *txn_state_to_string(enum txn_state s);
