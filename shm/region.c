/* region.c - layout, creation and mapping of client regions. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shm/atomic_pvt.h"
#include "shm/region.h"
#include "shm/ring.h"

#define PAGE 4096u
#define STAGE_ALIGN 65536u
#define STAGE_MIN 65536u

static uint64_t
align_up(uint64_t x, uint64_t a)
{
	return (x + a - 1) & ~(a - 1);
}

int
shm_layout_compute(struct shm_layout *lo, uint64_t size, uint32_t entries)
{
	if (entries < SHM_RING_MIN || entries > SHM_RING_MAX ||
	    (entries & (entries - 1)) || size > (1ull << 46))
		return -EINVAL;
	lo->size = align_up(size, PAGE);
	lo->entries = entries;
	lo->sq_ctl_off = PAGE;
	lo->cq_ctl_off = PAGE + sizeof(struct hgca_ring_ctl);
	lo->sq_off = 2 * PAGE;
	lo->cq_off = align_up(lo->sq_off +
			      (uint64_t)entries * sizeof(struct hgca_sqe), PAGE);
	lo->cqv_off = lo->cq_off + (uint64_t)entries * sizeof(struct hgca_cqent);
	lo->stage_off = align_up(lo->cqv_off +
				 (uint64_t)entries * sizeof(struct hgca_cqval),
				 STAGE_ALIGN);
	if (lo->size < lo->stage_off + STAGE_MIN)
		return -EINVAL;
	lo->stage_size = lo->size - lo->stage_off;
	return 0;
}

static void
write_header(void *base, const struct shm_layout *lo, uint32_t client_id,
	     uint32_t start)
{
	struct hgca_region_hdr *h = base;

	h->magic = HGCA_REGION_MAGIC;
	h->version = HGCA_PROTO_VERSION;
	h->client_id = client_id;
	h->size = lo->size;
	h->sq_entries = h->cq_entries = lo->entries;
	h->sqe_size = sizeof(struct hgca_sqe);
	h->cqe_size = sizeof(struct hgca_cqent);
	h->sq_ctl_off = lo->sq_ctl_off;
	h->cq_ctl_off = lo->cq_ctl_off;
	h->sq_off = lo->sq_off;
	h->cq_off = lo->cq_off;
	h->cqv_off = lo->cqv_off;
	h->stage_off = lo->stage_off;
	h->stage_size = lo->stage_size;
	/* Relaxed: not shared yet (the fd has not been passed). */
	shm_store_relaxed(&h->state, HGCA_REGION_ACTIVE);
	shm_store_relaxed(&h->spin_ns, 0);
	shm_ring_init((void *)((char *)base + lo->sq_ctl_off),
		      (char *)base + lo->sq_off, lo->entries,
		      sizeof(struct hgca_sqe), start);
	shm_ring_init((void *)((char *)base + lo->cq_ctl_off),
		      (char *)base + lo->cq_off, lo->entries,
		      sizeof(struct hgca_cqent), start);
}

int
shm_region_create(const struct shm_layout *lo, uint32_t client_id,
		  uint32_t start, int *fdp, void **basep)
{
	void *base;
	int fd, err;

	fd = memfd_create("hgca-client", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)lo->size) < 0 ||
	    fcntl(fd, F_ADD_SEALS, SHM_SEALS) < 0)
		goto out_close;
	base = mmap(NULL, lo->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED)
		goto out_close;
	write_header(base, lo, client_id, start);
	*fdp = fd;
	*basep = base;
	return 0;
out_close:
	err = -errno;
	close(fd);
	return err;
}

static bool
header_ok(const struct hgca_region_hdr *h, const struct shm_layout *lo)
{
	return h->magic == HGCA_REGION_MAGIC &&
	       h->version == HGCA_PROTO_VERSION && h->size == lo->size &&
	       h->sq_entries == lo->entries && h->cq_entries == lo->entries &&
	       h->sqe_size == sizeof(struct hgca_sqe) &&
	       h->cqe_size == sizeof(struct hgca_cqent) &&
	       h->sq_ctl_off == lo->sq_ctl_off &&
	       h->cq_ctl_off == lo->cq_ctl_off && h->sq_off == lo->sq_off &&
	       h->cq_off == lo->cq_off && h->cqv_off == lo->cqv_off &&
	       h->stage_off == lo->stage_off &&
	       h->stage_size == lo->stage_size;
}

int
shm_region_map(int fd, struct shm_layout *lo, void **basep)
{
	struct hgca_region_hdr h;
	struct stat st;
	void *base;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (fcntl(fd, F_GET_SEALS) != SHM_SEALS || st.st_size < (off_t)PAGE)
		return -EPROTO;
	if (pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h))
		return -EPROTO;
	if (h.size != (uint64_t)st.st_size ||
	    shm_layout_compute(lo, h.size, h.sq_entries) < 0 ||
	    !header_ok(&h, lo))
		return -EPROTO;
	base = mmap(NULL, lo->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED)
		return -errno;
	*basep = base;
	return 0;
}
