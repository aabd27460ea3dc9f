/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The only code that uses libkmod: is a driver's module there, and loading it. libkmod is
 * opened, and its context made, the first time either is asked. */

struct kmodule;

/* For the running kernel's modules; NULL only when out of memory. One per thread that uses
 * it: a call may wait for another on the same one. */
struct kmodule *kmodule_new(void);
struct kmodule *kmodule_free(struct kmodule *k);

/*
 * Whether a driver that is not registered could be loaded: 1 an installed module or built
 * in, 0 neither, -1 cannot tell (no libkmod, or no module indexes for this kernel).
 */
int kmodule_available(struct kmodule *k, const char *driver);

/* Loads a module by name or modalias (with its dependencies); -ENOENT when there is none. */
int kmodule_load(struct kmodule *k, const char *name_or_alias);
