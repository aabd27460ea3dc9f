/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libkmod, opened the first time a module is looked up or loaded rather than at start: with
 * it come libcrypto, liblzma and libzstd, about 2 MiB resident, which a host whose vfio-pci is
 * loaded already (built in, initramfs, modules-load.d) never needs.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libkmod.h>

#include "kmodule.h"
#include "lib/log.h"
#include "lib/macro.h"
#include "lib/util.h"

/* The libkmod calls we make, as it declares them. */
static struct {
	struct kmod_ctx *(*new)(const char *dirname, const char *const *config_paths);
	struct kmod_ctx *(*unref)(struct kmod_ctx *ctx);
	const char *(*get_dirname)(const struct kmod_ctx *ctx);
	int (*new_from_lookup)(struct kmod_ctx *ctx, const char *given_alias,
			       struct kmod_list **list);
	struct kmod_module *(*get_module)(const struct kmod_list *entry);
	struct kmod_list *(*list_next)(const struct kmod_list *list, const struct kmod_list *curr);
	const char *(*get_path)(const struct kmod_module *mod);
	int (*get_initstate)(const struct kmod_module *mod);
	struct kmod_module *(*module_unref)(struct kmod_module *mod);
	int (*unref_list)(struct kmod_list *list);
	int (*probe_insert)(struct kmod_module *mod, unsigned flags, const char *extra_options,
			    int (*run_install)(struct kmod_module *m, const char *cmdline, void *data),
			    const void *data,
			    void (*print_action)(struct kmod_module *m, bool install, const char *options));
} api;
static pthread_once_t api_once = PTHREAD_ONCE_INIT;
static bool api_ok;

static void api_open(void)
{
	void *dl = dlopen("libkmod.so.2", RTLD_NOW | RTLD_LOCAL);

	if (!dl) {
		log_warning("Cannot open libkmod (%s): modules cannot be looked up or loaded", dlerror());
		return;
	}
	/* dlsym() returns void *; the cast to a function pointer is POSIX's own idiom. */
#define SYM(field, name) (*(void **)&api.field = dlsym(dl, name))
	api_ok = SYM(new, "kmod_new") && SYM(unref, "kmod_unref") &&
		 SYM(get_dirname, "kmod_get_dirname") &&
		 SYM(new_from_lookup, "kmod_module_new_from_lookup") &&
		 SYM(get_module, "kmod_module_get_module") && SYM(list_next, "kmod_list_next") &&
		 SYM(get_path, "kmod_module_get_path") &&
		 SYM(get_initstate, "kmod_module_get_initstate") &&
		 SYM(module_unref, "kmod_module_unref") &&
		 SYM(unref_list, "kmod_module_unref_list") &&
		 SYM(probe_insert, "kmod_module_probe_insert_module");
#undef SYM
	if (!api_ok)
		log_warning("libkmod lacks a function pcipassd uses: modules cannot be looked up or loaded");
}

struct kmodule {
	pthread_mutex_t lock;	/* the worker loads modules while the loop looks them up */
	struct kmod_ctx *ctx;	/* made on first use */
	bool tried;
};

struct kmodule *kmodule_new(void)
{
	struct kmodule *k = new0(struct kmodule, 1);

	if (k)
		pthread_mutex_init(&k->lock, NULL);
	return k;
}

struct kmodule *kmodule_free(struct kmodule *k)
{
	if (!k)
		return NULL;
	if (k->ctx)
		api.unref(k->ctx);
	pthread_mutex_destroy(&k->lock);
	free(k);
	return NULL;
}

/* The context, made the first time (with k->lock held); NULL when libkmod cannot be had. */
static struct kmod_ctx *context(struct kmodule *k)
{
	if (!k->tried) {
		k->tried = true;
		(void)pthread_once(&api_once, api_open);
		if (api_ok)
			k->ctx = api.new(NULL, NULL);
	}
	return k->ctx;
}

static bool indexes_present(struct kmod_ctx *ctx)
{
	_cleanup_free_ char *path = NULL;
	const char *dir = api.get_dirname(ctx);

	if (!dir || asprintf(&path, "%s/modules.dep.bin", dir) < 0)
		return false;
	return path_exists(path);
}

static int available(struct kmod_ctx *ctx, const char *driver)
{
	struct kmod_list *list = NULL;
	_cleanup_free_ char *name = NULL;
	int state = 0;

	if (!ctx || !indexes_present(ctx))
		return -1;
	/* Drivers name themselves with '-' (vfio-pci), modules with '_'. */
	name = strdup(driver);
	if (!name)
		return -ENOMEM;
	for (char *p = name; *p; p++)
		if (*p == '-')
			*p = '_';
	if (api.new_from_lookup(ctx, name, &list) < 0)
		return -1;
	for (struct kmod_list *it = list; it; it = api.list_next(list, it)) {
		struct kmod_module *mod = api.get_module(it);

		if (api.get_path(mod) || api.get_initstate(mod) == KMOD_MODULE_BUILTIN)
			state = 1;
		api.module_unref(mod);
	}
	api.unref_list(list);
	return state;
}

int kmodule_available(struct kmodule *k, const char *driver)
{
	int r;

	if (!k)
		return -1;
	pthread_mutex_lock(&k->lock);
	r = available(context(k), driver);
	pthread_mutex_unlock(&k->lock);
	return r;
}

static int load(struct kmod_ctx *ctx, const char *name_or_alias)
{
	struct kmod_list *list = NULL;
	int r = -ENOENT;

	if (!ctx)
		return -ENOENT;
	if (api.new_from_lookup(ctx, name_or_alias, &list) < 0 || !list)
		return -ENOENT;
	for (struct kmod_list *it = list; it; it = api.list_next(list, it)) {
		struct kmod_module *mod = api.get_module(it);

		r = api.probe_insert(mod, KMOD_PROBE_IGNORE_LOADED, NULL, NULL, NULL, NULL);
		api.module_unref(mod);
		if (r >= 0)
			break;
	}
	api.unref_list(list);
	return r < 0 ? r : 0;
}

int kmodule_load(struct kmodule *k, const char *name_or_alias)
{
	int r;

	if (!k)
		return -ENOENT;
	pthread_mutex_lock(&k->lock);
	r = load(context(k), name_or_alias);
	pthread_mutex_unlock(&k->lock);
	return r;
}
