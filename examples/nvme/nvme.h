/* SPDX-License-Identifier: MIT */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * The few NVMe definitions examples/nvme/nvme.c needs, written from the
 * NVM Express Base Specification 2.0 (section numbers in the comments).
 * Everything is little-endian on the wire; this example targets
 * little-endian hosts and does not byte-swap.
 */
#ifndef IFD_EXAMPLES_NVME_H
#define IFD_EXAMPLES_NVME_H

#include <stdint.h>

/* Controller registers in BAR0 (3.1.4). */
#define NVME_REG_CAP  0x00 /* 64-bit capabilities */
#define NVME_REG_VS   0x08 /* version */
#define NVME_REG_CC   0x14 /* controller configuration */
#define NVME_REG_CSTS 0x1c /* controller status */
#define NVME_REG_AQA  0x24 /* admin queue sizes */
#define NVME_REG_ASQ  0x28 /* 64-bit admin SQ base */
#define NVME_REG_ACQ  0x30 /* 64-bit admin CQ base */
#define NVME_REG_DBS  0x1000 /* first doorbell */

/* CAP fields. */
#define NVME_CAP_MQES(cap)   ((uint32_t)((cap) & 0xffff) + 1) /* max entries per I/O queue */
#define NVME_CAP_CQR(cap)    (((cap) >> 16) & 0x1)            /* queues must be contiguous */
#define NVME_CAP_TO(cap)     (((cap) >> 24) & 0xff)           /* ready timeout, 500 ms units */
#define NVME_CAP_DSTRD(cap)  (((cap) >> 32) & 0xf)            /* doorbell stride: 4 << DSTRD bytes */
#define NVME_CAP_CSS_NVM(cap) (((cap) >> 37) & 0x1)           /* NVM command set supported */
#define NVME_CAP_MPSMIN(cap) (((cap) >> 48) & 0xf)            /* min page size: 4 KiB << MPSMIN */
#define NVME_CAP_MPSMAX(cap) (((cap) >> 52) & 0xf)

/* CC fields. */
#define NVME_CC_EN          (1u << 0)
#define NVME_CC_CSS_NVM     (0u << 4)
#define NVME_CC_MPS(shift)  ((uint32_t)((shift) - 12) << 7) /* page = 1 << shift */
#define NVME_CC_IOSQES(log) ((uint32_t)(log) << 16)         /* SQ entry = 1 << log bytes */
#define NVME_CC_IOCQES(log) ((uint32_t)(log) << 20)

/* CSTS fields. */
#define NVME_CSTS_RDY (1u << 0)
#define NVME_CSTS_CFS (1u << 1) /* controller fatal status */

/* The memory page size this driver programs (CC.MPS = 0). */
#define NVME_PAGE_SHIFT 12
#define NVME_PAGE_SIZE  (1u << NVME_PAGE_SHIFT)

/* A submission queue entry (4.2): 64 bytes. */
struct nvme_sqe {
	uint8_t opcode;
	uint8_t flags;   /* FUSE, PSDT: 0 = PRPs, not fused */
	uint16_t cid;    /* command identifier, echoed in the completion */
	uint32_t nsid;
	uint32_t cdw2;
	uint32_t cdw3;
	uint64_t mptr;
	uint64_t prp1;
	uint64_t prp2;
	uint32_t cdw10;
	uint32_t cdw11;
	uint32_t cdw12;
	uint32_t cdw13;
	uint32_t cdw14;
	uint32_t cdw15;
};
_Static_assert(sizeof(struct nvme_sqe) == 64, "SQ entry is 64 bytes");
#define NVME_SQES_LOG 6

/* A completion queue entry (4.6): 16 bytes. */
struct nvme_cqe {
	uint32_t result; /* command specific */
	uint32_t rsvd;
	uint16_t sq_head;
	uint16_t sq_id;
	uint16_t cid;
	uint16_t status; /* bit 0: phase tag; bits 15:1: status field */
};
_Static_assert(sizeof(struct nvme_cqe) == 16, "CQ entry is 16 bytes");
#define NVME_CQES_LOG 4

/* Status field (4.6.1), from cqe.status. */
#define NVME_STATUS_PHASE(s) ((unsigned int)(s) & 0x1)
#define NVME_STATUS_SC(s)    (((unsigned int)(s) >> 1) & 0xff)  /* status code */
#define NVME_STATUS_SCT(s)   (((unsigned int)(s) >> 9) & 0x7)   /* status code type */
#define NVME_STATUS_MORE(s)  (((unsigned int)(s) >> 14) & 0x1)
#define NVME_STATUS_DNR(s)   (((unsigned int)(s) >> 15) & 0x1)  /* do not retry */
#define NVME_STATUS_OK(s)    (((unsigned int)(s) & 0xfffe) == 0)

#define NVME_SCT_GENERIC  0
#define NVME_SCT_CMD      1
#define NVME_SCT_MEDIA    2
#define NVME_SCT_PATH     3
#define NVME_SCT_VENDOR   7

/* Admin opcodes (5). */
#define NVME_ADMIN_DELETE_SQ 0x00
#define NVME_ADMIN_CREATE_SQ 0x01
#define NVME_ADMIN_DELETE_CQ 0x04
#define NVME_ADMIN_CREATE_CQ 0x05
#define NVME_ADMIN_IDENTIFY  0x06

/* NVM command set opcodes (NVM Command Set Specification 3). */
#define NVME_CMD_WRITE 0x01
#define NVME_CMD_READ  0x02

/* Create I/O Completion Queue, CDW11 (5.4). */
#define NVME_CQ_PC     (1u << 0) /* physically contiguous */
#define NVME_CQ_IEN    (1u << 1) /* interrupts enabled */
#define NVME_CQ_IV(v)  ((uint32_t)(v) << 16)
/* Create I/O Submission Queue, CDW11 (5.5). */
#define NVME_SQ_PC     (1u << 0)
#define NVME_SQ_CQID(q) ((uint32_t)(q) << 16)
/* Queue ID and 0-based size, CDW10 of both. */
#define NVME_QUEUE_CDW10(qid, entries) ((uint32_t)(qid) | ((uint32_t)((entries) - 1) << 16))

/* Identify (5.17): CNS values and the fields used from the data. */
#define NVME_CNS_NS   0x00
#define NVME_CNS_CTRL 0x01
#define NVME_IDENTIFY_SIZE 4096

#define NVME_IDCTRL_SN    4    /* serial number, 20 ASCII bytes */
#define NVME_IDCTRL_SN_LEN 20
#define NVME_IDCTRL_MN    24   /* model number, 40 ASCII bytes */
#define NVME_IDCTRL_MN_LEN 40
#define NVME_IDCTRL_FR    64   /* firmware revision, 8 ASCII bytes */
#define NVME_IDCTRL_FR_LEN 8
#define NVME_IDCTRL_MDTS  77   /* max transfer: 2^MDTS min pages; 0 = no limit */
#define NVME_IDCTRL_NN    516  /* 32-bit number of namespaces */

#define NVME_IDNS_NSZE   0     /* 64-bit size in LBAs */
#define NVME_IDNS_NLBAF  25    /* number of LBA formats, 0-based */
#define NVME_IDNS_FLBAS  26    /* formatted LBA size: index in bits 3:0 and 6:5 */
#define NVME_IDNS_LBAF   128   /* LBA formats, 4 bytes each */
#define NVME_LBAF_MS(f)    ((unsigned int)(f) & 0xffff)        /* metadata bytes per LBA */
#define NVME_LBAF_LBADS(f) (((unsigned int)(f) >> 16) & 0xff)  /* LBA data size: 1 << LBADS */

#endif
