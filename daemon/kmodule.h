/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The only code that uses libkmod: is a driver's module there, and loading it. */

struct kmod_ctx;

/* A context for the running kernel's modules; NULL when libkmod cannot make one. */
struct kmod_ctx *kmodule_new(void);
struct kmod_ctx *kmodule_unref(struct kmod_ctx *ctx);

/*
 * Whether a driver that is not registered could be loaded: 1 an installed module or built
 * in, 0 neither, -1 cannot tell (no context, or no module indexes for this kernel).
 */
int kmodule_available(struct kmod_ctx *ctx, const char *driver);

/* Loads a module by name or modalias (with its dependencies); -ENOENT when there is none. */
int kmodule_load(struct kmod_ctx *ctx, const char *name_or_alias);
