/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "model.h"
#include "parallel.h"
#include "sysfs.h"

static void group_done(struct iommu_group *g)
{
	free(g->type);
	strv_free(g->members);
	*g = (struct iommu_group){};
}

static void groups_free(struct iommu_group *groups, size_t n)
{
	for (size_t i = 0; i < n; i++)
		group_done(&groups[i]);
	free(groups);
}

static void devs_free(struct pcidev **devs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		pcidev_unref(devs[i]);
	free(devs);
}

void model_done(struct model *m)
{
	free(m->below);
	devs_free(m->devs, m->n_devs);
	groups_free(m->groups, m->n_groups);
	*m = (struct model){};
}

const struct model_counts *model_counts(struct model *m)
{
	struct model_counts *c = &m->counts;

	if (m->counts_generation == m->generation + 1)
		return c;
	*c = (struct model_counts){};
	for (size_t i = 0; i < m->n_devs; i++)
		c->bound += m->devs[i]->driver != NULL;
	for (size_t i = 0; i < m->n_groups; i++) {
		const char *type = m->groups[i].type ?: "unknown";
		size_t k = 0;

		while (k < c->n_types && !streq(c->types[k].type, type))
			k++;
		if (k == c->n_types) {
			if (k == ELEMENTSOF(c->types))
				continue;	/* a kernel with more kinds than we know: not counted */
			c->types[c->n_types++].type = type;
		}
		c->types[k].n++;
	}
	m->counts_generation = m->generation + 1;
	return c;
}

static size_t dev_index(const struct model *m, const char *address, bool *ret_found);

struct pci_link model_link_below(struct model *m, const struct pcidev *d)
{
	bool found;
	size_t i;

	if (m->below_generation != m->generation + 1) {
		/* Once per change of the model: every function adds itself to its parent's. */
		free(m->below);
		m->below = new0(struct pci_link, m->n_devs + 1);
		if (!m->below)
			return (struct pci_link){ .width = -1 };
		for (size_t k = 0; k < m->n_devs; k++)
			m->below[k].width = -1;
		for (size_t k = 0; k < m->n_devs; k++) {
			const struct pcidev *x = m->devs[k];
			size_t p;

			if (!x->parent[0])
				continue;
			p = dev_index(m, x->parent, &found);
			if (!found)
				continue;
			m->below[p].speed = MAX(m->below[p].speed, x->max_link.speed);
			m->below[p].width = MAX(m->below[p].width, x->max_link.width);
		}
		m->below_generation = m->generation + 1;
	}
	i = dev_index(m, d->address, &found);
	return found ? m->below[i] : (struct pci_link){ .width = -1 };
}

static int cmp_dev(const void *a, const void *b)
{
	return pci_addr_compare((*(struct pcidev *const *)a)->address,
				(*(struct pcidev *const *)b)->address);
}

static int cmp_group(const void *a, const void *b)
{
	uint32_t x = ((const struct iommu_group *)a)->id, y = ((const struct iommu_group *)b)->id;

	return x < y ? -1 : x > y;
}

int model_read_types(struct model *m, struct sysfs *s)
{
	if (m->types_generation == m->generation + 1)
		return 0;
	for (size_t i = 0; i < m->n_groups; i++) {
		struct iommu_group *g = &m->groups[i];

		if (g->type_read)
			continue;
		if (sysfs_iommu_group_type(s, g->id, &g->type) == -ENOMEM)
			return -ENOMEM;
		g->type_read = true;
		m->generation++;	/* the counts count types */
	}
	m->types_generation = m->generation + 1;
	return 0;
}

bool model_same_group(const struct pcidev *a, const struct pcidev *d)
{
	return d == a || (a->iommu_group >= 0 && d->iommu_group == a->iommu_group);
}

/* None of the parts the functions are read in is smaller. */
#define SCAN_PER_THREAD_MIN 256

/* One thread's share of the details: devs[lo, hi). */
struct details_part {
	struct sysfs *sysfs;
	struct pcidev **devs;
	size_t lo, hi;
	int error;
};

static void *details_part_run(void *userdata)
{
	struct details_part *p = userdata;

	for (size_t i = p->lo; i < p->hi && p->error >= 0; i++)
		p->error = pcidev_read_details(p->sysfs, p->devs[i]);
	return NULL;
}

int model_read_details(struct model *m, struct sysfs *s, const char *only_address)
{
	const struct pcidev *only = only_address ? model_find(m, only_address) : NULL;
	struct details_part parts[PARALLEL_MAX] = {};
	size_t n_parts, missing = 0;

	if (only) {
		for (size_t i = 0; i < m->n_devs; i++) {
			int r = model_same_group(only, m->devs[i]) ?
				pcidev_read_details(s, m->devs[i]) : 0;

			if (r < 0)
				return r;
		}
		return 0;
	}
	for (size_t i = 0; i < m->n_devs; i++)
		missing += !m->devs[i]->details_read;
	if (missing == 0)
		return 0;
	/* Each function's details are its own: the parts share nothing but the tree. */
	n_parts = parallel_parts(missing, SCAN_PER_THREAD_MIN);
	for (size_t i = 0; i < n_parts; i++)
		parts[i] = (struct details_part){
			.sysfs = s, .devs = m->devs,
			.lo = m->n_devs * i / n_parts, .hi = m->n_devs * (i + 1) / n_parts,
		};
	parallel_run(parts, sizeof(parts[0]), n_parts, details_part_run);
	for (size_t i = 0; i < n_parts; i++)
		if (parts[i].error < 0)
			return parts[i].error;
	return 0;
}

static int group_read(struct sysfs *s, uint32_t id, struct iommu_group *ret)
{
	_cleanup_free_ char *type = NULL;
	_cleanup_strv_free_ char **members = NULL;
	size_t n = 0;
	int r;

	r = sysfs_iommu_group_members(s, id, &members, &n);
	if (r < 0)
		return r;
	if (sysfs_iommu_group_type(s, id, &type) == -ENOMEM)
		return -ENOMEM;
	*ret = (struct iommu_group){
		.id = id,
		.type = TAKE_PTR(type),
		.type_read = true,
		.members = TAKE_PTR(members),
		.n_members = n,
	};
	return 0;
}

/* The group of id among groups[0, n), sorted by id; NULL if absent. */
static struct iommu_group *group_in(struct iommu_group *groups, size_t n, uint32_t id)
{
	struct iommu_group key = { .id = id };

	return bsearch(&key, groups, n, sizeof(*groups), cmp_group);
}

/*
 * Every IOMMU group, its members from the functions' own iommu_group links (in address order,
 * as the group's devices/ lists them), so only its type is read; a group that no PCI function
 * names (non-PCI devices alone) is listed.
 */
static int scan_groups(struct sysfs *s, struct pcidev *const *devs, size_t n_devs,
		       struct iommu_group **ret, size_t *ret_n)
{
	_cleanup_strv_free_ char **names = NULL;
	struct iommu_group *groups;
	size_t n = 0, k = 0;
	int r;

	r = sysfs_iommu_groups(s, &names, &n);
	if (r == -ENOENT)
		n = 0;	/* no IOMMU, or an old kernel */
	else if (r < 0)
		return r;
	groups = new0(struct iommu_group, n + 1);
	if (!groups)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (safe_atou32(names[i], &groups[k].id) >= 0)
			k++;
	qsort(groups, k, sizeof(*groups), cmp_group);
	for (size_t i = 0; i < n_devs; i++) {
		struct iommu_group *g = devs[i]->iommu_group >= 0 ?
			group_in(groups, k, (uint32_t)devs[i]->iommu_group) : NULL;

		if (g)
			g->n_members++;
	}
	for (size_t i = 0; i < k; i++) {
		struct iommu_group *g = &groups[i];

		if (g->n_members > 0 && !(g->members = new0(char *, g->n_members + 1)))
			goto oom;
		g->n_members = 0;
	}
	for (size_t i = 0; i < n_devs; i++) {
		struct iommu_group *g = devs[i]->iommu_group >= 0 ?
			group_in(groups, k, (uint32_t)devs[i]->iommu_group) : NULL;

		if (g && !(g->members[g->n_members++] = strdup(devs[i]->address)))
			goto oom;
	}
	for (size_t i = 0; i < k; i++) {
		struct iommu_group *g = &groups[i];

		if (g->members)
			continue;	/* its type: model_read_types() */
		r = group_read(s, g->id, g);
		if (r < 0 && r != -ENOENT)
			goto fail;
	}
	/* Drop the groups that went away while we looked (no members). */
	{
		size_t j = 0;

		for (size_t i = 0; i < k; i++)
			if (groups[i].members)
				groups[j++] = groups[i];
		k = j;
	}
	*ret = groups;
	*ret_n = k;
	return 0;
oom:
	r = -ENOMEM;
fail:
	groups_free(groups, k);
	return r;
}

static bool device_gone(int r)
{
	return r == -ENOENT || r == -ENODEV;
}

/* One thread's share of a scan: names[lo, hi) read into devs[lo, hi) (NULL where gone). */
struct scan_part {
	struct sysfs *sysfs;
	char **names;
	struct pcidev **devs;
	size_t lo, hi, done;
	int error;
};

/* A VF's PF among the functions this part has read so far (its PF comes before it). */
static const struct pcidev *part_find(void *userdata, const char *address)
{
	const struct scan_part *p = userdata;

	for (size_t i = p->done; i-- > p->lo;)
		if (p->devs[i] && streq(p->devs[i]->address, address))
			return p->devs[i];
	return NULL;
}

static void *scan_part_run(void *userdata)
{
	struct scan_part *p = userdata;
	const struct pcidev_read_ctx ctx = { .find = part_find, .userdata = p, .scan = true };

	for (p->done = p->lo; p->done < p->hi; p->done++) {
		const char *name = p->names[p->done];
		int r = pcidev_read(p->sysfs, name, &ctx, &p->devs[p->done]);

		if (r == -ENOMEM) {
			p->error = r;
			break;
		}
		if (r < 0 && !device_gone(r))
			/* Not a function we can make sense of. */
			log_debug("Ignoring PCI device '%s': %s", name, strerror(-r));
	}
	return NULL;
}

/* A PF's VFs, in VF index order (the order of their addresses), from their physfn links. */
static int link_virtfns(struct pcidev **devs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct pcidev *pf = devs[i];
		size_t k = 0;

		if (pf->sriov_totalvfs <= 0)
			continue;
		pf->virtfns = new0(char *, (size_t)MAX(pf->sriov_numvfs, 0) + 1);
		if (!pf->virtfns)
			return -ENOMEM;
		for (size_t j = i + 1; j < n && k < (size_t)pf->sriov_numvfs; j++)
			if (devs[j]->physfn && streq(devs[j]->physfn, pf->address) &&
			    !(pf->virtfns[k++] = strdup(devs[j]->address)))
				return -ENOMEM;
	}
	return 0;
}

int model_scan(struct model *m, struct sysfs *s)
{
	_cleanup_strv_free_ char **names = NULL;
	struct scan_part parts[PARALLEL_MAX] = {};
	struct iommu_group *groups = NULL;
	struct pcidev **devs;
	size_t n = 0, k = 0, n_groups = 0, n_parts;
	int r = 0;

	r = sysfs_pci_list(s, &names, &n);
	if (r < 0)
		return r;
	devs = new0(struct pcidev *, n + 1);
	if (!devs)
		return -ENOMEM;
	n_parts = parallel_parts(n, SCAN_PER_THREAD_MIN);
	for (size_t i = 0; i < n_parts; i++)
		parts[i] = (struct scan_part){
			.sysfs = s, .names = names, .devs = devs,
			.lo = n * i / n_parts, .hi = n * (i + 1) / n_parts,
		};
	parallel_run(parts, sizeof(parts[0]), n_parts, scan_part_run);
	for (size_t i = 0; i < n_parts; i++)
		if (parts[i].error < 0)
			r = parts[i].error;
	for (size_t i = 0; i < n; i++)
		if (devs[i])
			devs[k++] = devs[i];
	if (r < 0) {
		devs_free(devs, k);
		return r;
	}
	qsort(devs, k, sizeof(*devs), cmp_dev);

	r = link_virtfns(devs, k);
	if (r >= 0)
		r = scan_groups(s, devs, k, &groups, &n_groups);
	if (r < 0) {
		devs_free(devs, k);
		return r;
	}
	{
		uint64_t generation = m->generation + 1;

		model_done(m);
		*m = (struct model){
			.devs = devs,
			.n_devs = k,
			.size_devs = n + 1,
			.groups = groups,
			.n_groups = n_groups,
			.generation = generation,
		};
	}
	return 0;
}

static const char *dev_address(const void *elem)
{
	return (*(struct pcidev *const *)elem)->address;
}

/* Index of address in the sorted array, or where it would go (*ret_found false). */
static size_t dev_index(const struct model *m, const char *address, bool *ret_found)
{
	return pci_addr_search(m->devs, m->n_devs, sizeof(*m->devs), dev_address, address, ret_found);
}

struct pcidev *model_find(const struct model *m, const char *address)
{
	bool found;
	size_t i = dev_index(m, address, &found);

	return found ? m->devs[i] : NULL;
}

static const struct pcidev *model_find_const(void *userdata, const char *address)
{
	return model_find(userdata, address);
}

static size_t group_index(const struct model *m, uint32_t id, bool *ret_found)
{
	size_t lo = 0, hi = m->n_groups;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->groups[mid].id == id) {
			*ret_found = true;
			return mid;
		}
		if (m->groups[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	*ret_found = false;
	return lo;
}

const struct iommu_group *model_find_group(const struct model *m, uint32_t id)
{
	bool found;
	size_t i = group_index(m, id, &found);

	return found ? &m->groups[i] : NULL;
}

int model_refresh_group(struct model *m, struct sysfs *s, uint32_t id)
{
	struct iommu_group g;
	bool found;
	size_t i = group_index(m, id, &found);
	int r;

	r = group_read(s, id, &g);
	m->generation++;
	if (r == -ENOENT) {
		if (found) {
			group_done(&m->groups[i]);
			memmove(&m->groups[i], &m->groups[i + 1],
				(m->n_groups - i - 1) * sizeof(*m->groups));
			m->n_groups--;
		}
		return 0;
	}
	if (r < 0)
		return r;
	if (found) {
		group_done(&m->groups[i]);
		m->groups[i] = g;
		return 0;
	}
	{
		struct iommu_group *a = reallocarray_safe(m->groups, m->n_groups + 1, sizeof(*a));

		if (!a) {
			group_done(&g);
			return -ENOMEM;
		}
		m->groups = a;
	}
	memmove(&m->groups[i + 1], &m->groups[i], (m->n_groups - i) * sizeof(*m->groups));
	m->groups[i] = g;
	m->n_groups++;
	return 0;
}

/* Puts d (taking the reference) in place of the record at its address, or removes that record
 * when d is NULL. Returns the previous record (a reference) through ret_old. */
/* The texts that show something of the function at address: its slot's other functions (as
 * siblings), the port above it and the functions below it (the link's other end). */
static void texts_clear_around(struct model *m, const char *address, const struct pcidev *old,
			       const struct pcidev *d)
{
	for (size_t i = 0; i < m->n_devs; i++) {
		struct pcidev *x = m->devs[i];

		if (pci_addr_same_slot(x->address, address) || streq(x->parent, address) ||
		    (old && streq(x->address, old->parent)) || (d && streq(x->address, d->parent)))
			pcidev_text_clear(x);
	}
}

static int model_put(struct model *m, const char *address, struct pcidev *d,
		     struct pcidev **ret_old)
{
	bool found;
	size_t i = dev_index(m, address, &found);
	struct pcidev *old = found ? m->devs[i] : NULL;

	texts_clear_around(m, address, old, d);
	m->generation++;

	if (d && found)
		m->devs[i] = d;
	else if (d) {
		if (m->n_devs + 1 > m->size_devs) {
			size_t size = MAX(m->size_devs * 2, (size_t)16);
			struct pcidev **a = reallocarray_safe(m->devs, size, sizeof(*a));

			if (!a) {
				pcidev_unref(d);
				return -ENOMEM;
			}
			m->devs = a;
			m->size_devs = size;
		}
		memmove(&m->devs[i + 1], &m->devs[i], (m->n_devs - i) * sizeof(*m->devs));
		m->devs[i] = d;
		m->n_devs++;
	} else if (found) {
		memmove(&m->devs[i], &m->devs[i + 1], (m->n_devs - i - 1) * sizeof(*m->devs));
		m->n_devs--;
	}
	if (ret_old)
		*ret_old = old;
	else
		pcidev_unref(old);
	return 0;
}

/* Re-reads one function's record and nothing else. */
static int model_reread(struct model *m, struct sysfs *s, const char *address,
			struct pcidev **ret_old, struct pcidev **ret)
{
	struct pcidev *d = NULL;
	int r;

	r = pcidev_read(s, address, &(struct pcidev_read_ctx){ .find = model_find_const, .userdata = m }, &d);
	if (r < 0 && !device_gone(r))
		return r;
	r = model_put(m, address, d, ret_old);
	if (r < 0)
		return r;
	if (ret)
		*ret = d;
	return 0;
}

int model_refresh(struct model *m, struct sysfs *s, const char *address, struct pcidev **ret_old,
		  struct pcidev **ret)
{
	_cleanup_(pcidev_unrefp) struct pcidev *old = NULL;
	struct pcidev *d = NULL;
	const char *pf;
	int r;

	if (!pci_addr_is_valid(address))
		return -EINVAL;
	r = model_reread(m, s, address, &old, &d);
	if (r < 0)
		return r;

	/* IOMMU groups emit no uevents: follow them through their members. */
	if (old && old->iommu_group >= 0)
		r = model_refresh_group(m, s, (uint32_t)old->iommu_group);
	if (r >= 0 && d && d->iommu_group >= 0 && (!old || old->iommu_group != d->iommu_group))
		r = model_refresh_group(m, s, (uint32_t)d->iommu_group);
	/* A VF coming or going changes its PF's virtfn links and sriov_numvfs. */
	pf = d && d->physfn ? d->physfn : old ? old->physfn : NULL;
	if (r >= 0 && pf && pci_addr_is_valid(pf) && model_find(m, pf))
		r = model_reread(m, s, pf, NULL, NULL);
	if (r < 0)
		return r;

	if (ret_old)
		*ret_old = TAKE_PTR(old);
	if (ret)
		*ret = d;
	return 0;
}

int model_siblings(const struct model *m, const struct pcidev *d, char ***ret)
{
	_cleanup_strv_free_ char **l = NULL;
	bool found;
	size_t i = dev_index(m, d->address, &found), lo = i, hi = i + 1, n = 0;

	*ret = NULL;
	/* VFs may share a PF's slot number without being functions of one device. */
	if (!found || d->physfn)
		return 0;
	/* Functions of one device are adjacent in address order. */
	while (lo > 0 && pci_addr_same_slot(m->devs[lo - 1]->address, d->address))
		lo--;
	while (hi < m->n_devs && pci_addr_same_slot(m->devs[hi]->address, d->address))
		hi++;
	if (hi - lo == 1)
		return 0;
	l = new0(char *, hi - lo + 1);
	if (!l)
		return -ENOMEM;
	for (size_t j = lo; j < hi; j++) {
		if (streq(m->devs[j]->address, d->address) || m->devs[j]->physfn)
			continue;
		l[n] = strdup(m->devs[j]->address);
		if (!l[n++])
			return -ENOMEM;
	}
	if (n == 0)
		return 0;
	*ret = TAKE_PTR(l);
	return 0;
}
