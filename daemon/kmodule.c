/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <libkmod.h>

#include "kmodule.h"
#include "lib/util.h"
#include "lib/macro.h"

struct kmod_ctx *kmodule_new(void)
{
	return kmod_new(NULL, NULL);
}

struct kmod_ctx *kmodule_unref(struct kmod_ctx *ctx)
{
	return ctx ? kmod_unref(ctx) : NULL;
}

static bool indexes_present(struct kmod_ctx *ctx)
{
	_cleanup_free_ char *path = NULL;
	const char *dir = kmod_get_dirname(ctx);

	if (!dir || asprintf(&path, "%s/modules.dep.bin", dir) < 0)
		return false;
	return path_exists(path);
}

int kmodule_available(struct kmod_ctx *ctx, const char *driver)
{
	struct kmod_list *list = NULL, *it;
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
	if (kmod_module_new_from_lookup(ctx, name, &list) < 0)
		return -1;
	kmod_list_foreach(it, list) {
		struct kmod_module *mod = kmod_module_get_module(it);

		if (kmod_module_get_path(mod) || kmod_module_get_initstate(mod) == KMOD_MODULE_BUILTIN)
			state = 1;
		kmod_module_unref(mod);
	}
	kmod_module_unref_list(list);
	return state;
}

int kmodule_load(struct kmod_ctx *ctx, const char *name_or_alias)
{
	struct kmod_list *list = NULL, *it;
	int r = -ENOENT;

	if (!ctx)
		return -ENOENT;
	if (kmod_module_new_from_lookup(ctx, name_or_alias, &list) < 0 || !list)
		return -ENOENT;
	kmod_list_foreach(it, list) {
		struct kmod_module *mod = kmod_module_get_module(it);

		r = kmod_module_probe_insert_module(mod, KMOD_PROBE_IGNORE_LOADED, NULL, NULL, NULL,
						    NULL);
		kmod_module_unref(mod);
		if (r >= 0)
			break;
	}
	kmod_module_unref_list(list);
	return r < 0 ? r : 0;
}
