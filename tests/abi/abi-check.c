/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Copyright (C) 2026 The libiommufd authors */
/*
 * tests/abi/abi-check.c - prove lib/kabi.h matches the kernel's uAPI headers.
 *
 * Build against the reference kernel headers (Linux 7.3), e.g.
 *
 *   gcc -std=gnu11 -Wall -Wextra -Werror -I <headers>/include \
 *       tests/abi/abi-check.c -o abi-check
 *   ./abi-check [path/to/lib/kabi.h]
 *
 * where <headers>/include holds linux/iommufd.h, linux/vfio.h, linux/version.h
 * and asm/ (the output of "make headers_install").
 *
 * Three layers of checking:
 *  1. Compile time: _Static_assert for every struct size, every field's offset
 *     and size, and every constant's value.  Any mismatch stops the build.
 *  2. Run time: the same comparisons again, printed, plus a coverage check:
 *     the checked fields of each struct must tile it from byte 0 to its last
 *     byte with no gap (union members may share an offset), so a field left
 *     out of the tables below is caught even if everything else matches.
 *  3. Run time: lib/kabi.h is read as text (path from argv[1], or found next
 *     to this source file), and every "struct ifd_k_* {" definition and every
 *     object-like "#define IFD_K_*" in it must be in the tables below, with
 *     the same number of field declarations.  Adding something to kabi.h
 *     without adding its check here fails the test.
 *
 * Exit status 0 only if everything matches.
 */
#include <linux/iommufd.h>
#include <linux/vfio.h>
#include <linux/version.h>

#include "../../lib/kabi.h"

#ifndef LINUX_VERSION_MAJOR /* version.h older than 5.x lacks these */
#define LINUX_VERSION_MAJOR (LINUX_VERSION_CODE >> 16)
#define LINUX_VERSION_PATCHLEVEL ((LINUX_VERSION_CODE >> 8) & 0xff)
#endif

#include <errno.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KOFFEND(type, member) (offsetof(type, member) + sizeof(((type *)0)->member))

/* ---------------------------------------------------------------------------
 * Structs: S(ours, kernel) with ours = struct ifd_k_<ours>.
 * ------------------------------------------------------------------------- */
#define ABI_STRUCTS(S)                                                         \
	S(destroy, iommu_destroy)                                              \
	S(ioas_alloc, iommu_ioas_alloc)                                        \
	S(iova_range, iommu_iova_range)                                        \
	S(ioas_iova_ranges, iommu_ioas_iova_ranges)                            \
	S(ioas_allow_iovas, iommu_ioas_allow_iovas)                            \
	S(ioas_map, iommu_ioas_map)                                            \
	S(ioas_noiommu_get_pa, iommu_ioas_noiommu_get_pa)                      \
	S(ioas_map_file, iommu_ioas_map_file)                                  \
	S(ioas_copy, iommu_ioas_copy)                                          \
	S(ioas_unmap, iommu_ioas_unmap)                                        \
	S(option, iommu_option)                                                \
	S(vfio_ioas, iommu_vfio_ioas)                                          \
	S(hwpt_vtd_s1, iommu_hwpt_vtd_s1)                                      \
	S(hwpt_arm_smmuv3, iommu_hwpt_arm_smmuv3)                              \
	S(hwpt_amd_guest, iommu_hwpt_amd_guest)                                \
	S(hwpt_alloc, iommu_hwpt_alloc)                                        \
	S(hw_info_vtd, iommu_hw_info_vtd)                                      \
	S(hw_info_arm_smmuv3, iommu_hw_info_arm_smmuv3)                        \
	S(hw_info_tegra241_cmdqv, iommu_hw_info_tegra241_cmdqv)                \
	S(hw_info_amd, iommu_hw_info_amd)                                      \
	S(hw_info, iommu_hw_info)                                              \
	S(hwpt_set_dirty_tracking, iommu_hwpt_set_dirty_tracking)              \
	S(hwpt_get_dirty_bitmap, iommu_hwpt_get_dirty_bitmap)                  \
	S(hwpt_vtd_s1_invalidate, iommu_hwpt_vtd_s1_invalidate)                \
	S(viommu_arm_smmuv3_invalidate, iommu_viommu_arm_smmuv3_invalidate)    \
	S(hwpt_invalidate, iommu_hwpt_invalidate)                              \
	S(hwpt_pgfault, iommu_hwpt_pgfault)                                    \
	S(hwpt_page_response, iommu_hwpt_page_response)                        \
	S(fault_alloc, iommu_fault_alloc)                                      \
	S(viommu_tegra241_cmdqv, iommu_viommu_tegra241_cmdqv)                  \
	S(viommu_alloc, iommu_viommu_alloc)                                    \
	S(vdevice_alloc, iommu_vdevice_alloc)                                  \
	S(ioas_change_process, iommu_ioas_change_process)                      \
	S(vevent_header, iommufd_vevent_header)                                \
	S(vevent_arm_smmuv3, iommu_vevent_arm_smmuv3)                          \
	S(vevent_tegra241_cmdqv, iommu_vevent_tegra241_cmdqv)                  \
	S(veventq_alloc, iommu_veventq_alloc)                                  \
	S(hw_queue_alloc, iommu_hw_queue_alloc)                                \
	S(vfio_device_bind_iommufd, vfio_device_bind_iommufd)                  \
	S(vfio_device_attach_iommufd_pt, vfio_device_attach_iommufd_pt)        \
	S(vfio_device_detach_iommufd_pt, vfio_device_detach_iommufd_pt)        \
	S(vfio_region_dma_range, vfio_region_dma_range)                        \
	S(vfio_device_feature_dma_buf, vfio_device_feature_dma_buf)

/* ---------------------------------------------------------------------------
 * Fields, in declaration order: F(ours, kernel, our_field, kernel_field).
 * ------------------------------------------------------------------------- */
#define ABI_FIELDS(F)                                                          \
	F(destroy, iommu_destroy, size, size)                                  \
	F(destroy, iommu_destroy, id, id)                                      \
	                                                                       \
	F(ioas_alloc, iommu_ioas_alloc, size, size)                            \
	F(ioas_alloc, iommu_ioas_alloc, flags, flags)                          \
	F(ioas_alloc, iommu_ioas_alloc, out_ioas_id, out_ioas_id)              \
	                                                                       \
	F(iova_range, iommu_iova_range, start, start)                          \
	F(iova_range, iommu_iova_range, last, last)                            \
	                                                                       \
	F(ioas_iova_ranges, iommu_ioas_iova_ranges, size, size)                \
	F(ioas_iova_ranges, iommu_ioas_iova_ranges, ioas_id, ioas_id)          \
	F(ioas_iova_ranges, iommu_ioas_iova_ranges, num_iovas, num_iovas)      \
	F(ioas_iova_ranges, iommu_ioas_iova_ranges, reserved, __reserved)      \
	F(ioas_iova_ranges, iommu_ioas_iova_ranges, allowed_iovas,             \
	  allowed_iovas)                                                       \
	F(ioas_iova_ranges, iommu_ioas_iova_ranges, out_iova_alignment,        \
	  out_iova_alignment)                                                  \
	                                                                       \
	F(ioas_allow_iovas, iommu_ioas_allow_iovas, size, size)                \
	F(ioas_allow_iovas, iommu_ioas_allow_iovas, ioas_id, ioas_id)          \
	F(ioas_allow_iovas, iommu_ioas_allow_iovas, num_iovas, num_iovas)      \
	F(ioas_allow_iovas, iommu_ioas_allow_iovas, reserved, __reserved)      \
	F(ioas_allow_iovas, iommu_ioas_allow_iovas, allowed_iovas,             \
	  allowed_iovas)                                                       \
	                                                                       \
	F(ioas_map, iommu_ioas_map, size, size)                                \
	F(ioas_map, iommu_ioas_map, flags, flags)                              \
	F(ioas_map, iommu_ioas_map, ioas_id, ioas_id)                          \
	F(ioas_map, iommu_ioas_map, reserved, __reserved)                      \
	F(ioas_map, iommu_ioas_map, user_va, user_va)                          \
	F(ioas_map, iommu_ioas_map, length, length)                            \
	F(ioas_map, iommu_ioas_map, iova, iova)                                \
	                                                                       \
	F(ioas_noiommu_get_pa, iommu_ioas_noiommu_get_pa, size, size)          \
	F(ioas_noiommu_get_pa, iommu_ioas_noiommu_get_pa, flags, flags)        \
	F(ioas_noiommu_get_pa, iommu_ioas_noiommu_get_pa, ioas_id, ioas_id)    \
	F(ioas_noiommu_get_pa, iommu_ioas_noiommu_get_pa, reserved,            \
	  __reserved)                                                          \
	F(ioas_noiommu_get_pa, iommu_ioas_noiommu_get_pa, iova, iova)          \
	F(ioas_noiommu_get_pa, iommu_ioas_noiommu_get_pa, length, length)      \
	F(ioas_noiommu_get_pa, iommu_ioas_noiommu_get_pa, out_phys, out_phys)  \
	                                                                       \
	F(ioas_map_file, iommu_ioas_map_file, size, size)                      \
	F(ioas_map_file, iommu_ioas_map_file, flags, flags)                    \
	F(ioas_map_file, iommu_ioas_map_file, ioas_id, ioas_id)                \
	F(ioas_map_file, iommu_ioas_map_file, fd, fd)                          \
	F(ioas_map_file, iommu_ioas_map_file, start, start)                    \
	F(ioas_map_file, iommu_ioas_map_file, length, length)                  \
	F(ioas_map_file, iommu_ioas_map_file, iova, iova)                      \
	                                                                       \
	F(ioas_copy, iommu_ioas_copy, size, size)                              \
	F(ioas_copy, iommu_ioas_copy, flags, flags)                            \
	F(ioas_copy, iommu_ioas_copy, dst_ioas_id, dst_ioas_id)                \
	F(ioas_copy, iommu_ioas_copy, src_ioas_id, src_ioas_id)                \
	F(ioas_copy, iommu_ioas_copy, length, length)                          \
	F(ioas_copy, iommu_ioas_copy, dst_iova, dst_iova)                      \
	F(ioas_copy, iommu_ioas_copy, src_iova, src_iova)                      \
	                                                                       \
	F(ioas_unmap, iommu_ioas_unmap, size, size)                            \
	F(ioas_unmap, iommu_ioas_unmap, ioas_id, ioas_id)                      \
	F(ioas_unmap, iommu_ioas_unmap, iova, iova)                            \
	F(ioas_unmap, iommu_ioas_unmap, length, length)                        \
	                                                                       \
	F(option, iommu_option, size, size)                                    \
	F(option, iommu_option, option_id, option_id)                          \
	F(option, iommu_option, op, op)                                        \
	F(option, iommu_option, reserved, __reserved)                          \
	F(option, iommu_option, object_id, object_id)                          \
	F(option, iommu_option, val64, val64)                                  \
	                                                                       \
	F(vfio_ioas, iommu_vfio_ioas, size, size)                              \
	F(vfio_ioas, iommu_vfio_ioas, ioas_id, ioas_id)                        \
	F(vfio_ioas, iommu_vfio_ioas, op, op)                                  \
	F(vfio_ioas, iommu_vfio_ioas, reserved, __reserved)                    \
	                                                                       \
	F(hwpt_vtd_s1, iommu_hwpt_vtd_s1, flags, flags)                        \
	F(hwpt_vtd_s1, iommu_hwpt_vtd_s1, pgtbl_addr, pgtbl_addr)              \
	F(hwpt_vtd_s1, iommu_hwpt_vtd_s1, addr_width, addr_width)              \
	F(hwpt_vtd_s1, iommu_hwpt_vtd_s1, reserved, __reserved)                \
	                                                                       \
	F(hwpt_arm_smmuv3, iommu_hwpt_arm_smmuv3, ste, ste)                    \
	                                                                       \
	F(hwpt_amd_guest, iommu_hwpt_amd_guest, dte, dte)                      \
	                                                                       \
	F(hwpt_alloc, iommu_hwpt_alloc, size, size)                            \
	F(hwpt_alloc, iommu_hwpt_alloc, flags, flags)                          \
	F(hwpt_alloc, iommu_hwpt_alloc, dev_id, dev_id)                        \
	F(hwpt_alloc, iommu_hwpt_alloc, pt_id, pt_id)                          \
	F(hwpt_alloc, iommu_hwpt_alloc, out_hwpt_id, out_hwpt_id)              \
	F(hwpt_alloc, iommu_hwpt_alloc, reserved, __reserved)                  \
	F(hwpt_alloc, iommu_hwpt_alloc, data_type, data_type)                  \
	F(hwpt_alloc, iommu_hwpt_alloc, data_len, data_len)                    \
	F(hwpt_alloc, iommu_hwpt_alloc, data_uptr, data_uptr)                  \
	F(hwpt_alloc, iommu_hwpt_alloc, fault_id, fault_id)                    \
	F(hwpt_alloc, iommu_hwpt_alloc, reserved2, __reserved2)                \
	                                                                       \
	F(hw_info_vtd, iommu_hw_info_vtd, flags, flags)                        \
	F(hw_info_vtd, iommu_hw_info_vtd, reserved, __reserved)                \
	F(hw_info_vtd, iommu_hw_info_vtd, cap_reg, cap_reg)                    \
	F(hw_info_vtd, iommu_hw_info_vtd, ecap_reg, ecap_reg)                  \
	                                                                       \
	F(hw_info_arm_smmuv3, iommu_hw_info_arm_smmuv3, flags, flags)          \
	F(hw_info_arm_smmuv3, iommu_hw_info_arm_smmuv3, reserved, __reserved)  \
	F(hw_info_arm_smmuv3, iommu_hw_info_arm_smmuv3, idr, idr)              \
	F(hw_info_arm_smmuv3, iommu_hw_info_arm_smmuv3, iidr, iidr)            \
	F(hw_info_arm_smmuv3, iommu_hw_info_arm_smmuv3, aidr, aidr)            \
	                                                                       \
	F(hw_info_tegra241_cmdqv, iommu_hw_info_tegra241_cmdqv, flags, flags)  \
	F(hw_info_tegra241_cmdqv, iommu_hw_info_tegra241_cmdqv, version,       \
	  version)                                                             \
	F(hw_info_tegra241_cmdqv, iommu_hw_info_tegra241_cmdqv, log2vcmdqs,    \
	  log2vcmdqs)                                                          \
	F(hw_info_tegra241_cmdqv, iommu_hw_info_tegra241_cmdqv, log2vsids,     \
	  log2vsids)                                                           \
	F(hw_info_tegra241_cmdqv, iommu_hw_info_tegra241_cmdqv, reserved,      \
	  __reserved)                                                          \
	                                                                       \
	F(hw_info_amd, iommu_hw_info_amd, efr, efr)                            \
	F(hw_info_amd, iommu_hw_info_amd, efr2, efr2)                          \
	                                                                       \
	F(hw_info, iommu_hw_info, size, size)                                  \
	F(hw_info, iommu_hw_info, flags, flags)                                \
	F(hw_info, iommu_hw_info, dev_id, dev_id)                              \
	F(hw_info, iommu_hw_info, data_len, data_len)                          \
	F(hw_info, iommu_hw_info, data_uptr, data_uptr)                        \
	F(hw_info, iommu_hw_info, in_data_type, in_data_type)                  \
	F(hw_info, iommu_hw_info, out_data_type, out_data_type)                \
	F(hw_info, iommu_hw_info, out_max_pasid_log2, out_max_pasid_log2)      \
	F(hw_info, iommu_hw_info, reserved, __reserved)                        \
	F(hw_info, iommu_hw_info, out_capabilities, out_capabilities)          \
	                                                                       \
	F(hwpt_set_dirty_tracking, iommu_hwpt_set_dirty_tracking, size, size)  \
	F(hwpt_set_dirty_tracking, iommu_hwpt_set_dirty_tracking, flags,       \
	  flags)                                                               \
	F(hwpt_set_dirty_tracking, iommu_hwpt_set_dirty_tracking, hwpt_id,     \
	  hwpt_id)                                                             \
	F(hwpt_set_dirty_tracking, iommu_hwpt_set_dirty_tracking, reserved,    \
	  __reserved)                                                          \
	                                                                       \
	F(hwpt_get_dirty_bitmap, iommu_hwpt_get_dirty_bitmap, size, size)      \
	F(hwpt_get_dirty_bitmap, iommu_hwpt_get_dirty_bitmap, hwpt_id,         \
	  hwpt_id)                                                             \
	F(hwpt_get_dirty_bitmap, iommu_hwpt_get_dirty_bitmap, flags, flags)    \
	F(hwpt_get_dirty_bitmap, iommu_hwpt_get_dirty_bitmap, reserved,        \
	  __reserved)                                                          \
	F(hwpt_get_dirty_bitmap, iommu_hwpt_get_dirty_bitmap, iova, iova)      \
	F(hwpt_get_dirty_bitmap, iommu_hwpt_get_dirty_bitmap, length, length)  \
	F(hwpt_get_dirty_bitmap, iommu_hwpt_get_dirty_bitmap, page_size,       \
	  page_size)                                                           \
	F(hwpt_get_dirty_bitmap, iommu_hwpt_get_dirty_bitmap, data, data)      \
	                                                                       \
	F(hwpt_vtd_s1_invalidate, iommu_hwpt_vtd_s1_invalidate, addr, addr)    \
	F(hwpt_vtd_s1_invalidate, iommu_hwpt_vtd_s1_invalidate, npages,        \
	  npages)                                                              \
	F(hwpt_vtd_s1_invalidate, iommu_hwpt_vtd_s1_invalidate, flags, flags)  \
	F(hwpt_vtd_s1_invalidate, iommu_hwpt_vtd_s1_invalidate, reserved,      \
	  __reserved)                                                          \
	                                                                       \
	F(viommu_arm_smmuv3_invalidate, iommu_viommu_arm_smmuv3_invalidate,    \
	  cmd, cmd)                                                            \
	                                                                       \
	F(hwpt_invalidate, iommu_hwpt_invalidate, size, size)                  \
	F(hwpt_invalidate, iommu_hwpt_invalidate, hwpt_id, hwpt_id)            \
	F(hwpt_invalidate, iommu_hwpt_invalidate, data_uptr, data_uptr)        \
	F(hwpt_invalidate, iommu_hwpt_invalidate, data_type, data_type)        \
	F(hwpt_invalidate, iommu_hwpt_invalidate, entry_len, entry_len)        \
	F(hwpt_invalidate, iommu_hwpt_invalidate, entry_num, entry_num)        \
	F(hwpt_invalidate, iommu_hwpt_invalidate, reserved, __reserved)        \
	                                                                       \
	F(hwpt_pgfault, iommu_hwpt_pgfault, flags, flags)                      \
	F(hwpt_pgfault, iommu_hwpt_pgfault, dev_id, dev_id)                    \
	F(hwpt_pgfault, iommu_hwpt_pgfault, pasid, pasid)                      \
	F(hwpt_pgfault, iommu_hwpt_pgfault, grpid, grpid)                      \
	F(hwpt_pgfault, iommu_hwpt_pgfault, perm, perm)                        \
	F(hwpt_pgfault, iommu_hwpt_pgfault, reserved, __reserved)              \
	F(hwpt_pgfault, iommu_hwpt_pgfault, addr, addr)                        \
	F(hwpt_pgfault, iommu_hwpt_pgfault, length, length)                    \
	F(hwpt_pgfault, iommu_hwpt_pgfault, cookie, cookie)                    \
	                                                                       \
	F(hwpt_page_response, iommu_hwpt_page_response, cookie, cookie)        \
	F(hwpt_page_response, iommu_hwpt_page_response, code, code)            \
	                                                                       \
	F(fault_alloc, iommu_fault_alloc, size, size)                          \
	F(fault_alloc, iommu_fault_alloc, flags, flags)                        \
	F(fault_alloc, iommu_fault_alloc, out_fault_id, out_fault_id)          \
	F(fault_alloc, iommu_fault_alloc, out_fault_fd, out_fault_fd)          \
	                                                                       \
	F(viommu_tegra241_cmdqv, iommu_viommu_tegra241_cmdqv,                  \
	  out_vintf_mmap_offset, out_vintf_mmap_offset)                        \
	F(viommu_tegra241_cmdqv, iommu_viommu_tegra241_cmdqv,                  \
	  out_vintf_mmap_length, out_vintf_mmap_length)                        \
	                                                                       \
	F(viommu_alloc, iommu_viommu_alloc, size, size)                        \
	F(viommu_alloc, iommu_viommu_alloc, flags, flags)                      \
	F(viommu_alloc, iommu_viommu_alloc, type, type)                        \
	F(viommu_alloc, iommu_viommu_alloc, dev_id, dev_id)                    \
	F(viommu_alloc, iommu_viommu_alloc, hwpt_id, hwpt_id)                  \
	F(viommu_alloc, iommu_viommu_alloc, out_viommu_id, out_viommu_id)      \
	F(viommu_alloc, iommu_viommu_alloc, data_len, data_len)                \
	F(viommu_alloc, iommu_viommu_alloc, reserved, __reserved)              \
	F(viommu_alloc, iommu_viommu_alloc, data_uptr, data_uptr)              \
	                                                                       \
	F(vdevice_alloc, iommu_vdevice_alloc, size, size)                      \
	F(vdevice_alloc, iommu_vdevice_alloc, viommu_id, viommu_id)            \
	F(vdevice_alloc, iommu_vdevice_alloc, dev_id, dev_id)                  \
	F(vdevice_alloc, iommu_vdevice_alloc, out_vdevice_id, out_vdevice_id)  \
	F(vdevice_alloc, iommu_vdevice_alloc, virt_id, virt_id)                \
	                                                                       \
	F(ioas_change_process, iommu_ioas_change_process, size, size)          \
	F(ioas_change_process, iommu_ioas_change_process, reserved,            \
	  __reserved)                                                          \
	                                                                       \
	F(vevent_header, iommufd_vevent_header, flags, flags)                  \
	F(vevent_header, iommufd_vevent_header, sequence, sequence)            \
	                                                                       \
	F(vevent_arm_smmuv3, iommu_vevent_arm_smmuv3, evt, evt)                \
	                                                                       \
	F(vevent_tegra241_cmdqv, iommu_vevent_tegra241_cmdqv, lvcmdq_err_map,  \
	  lvcmdq_err_map)                                                      \
	                                                                       \
	F(veventq_alloc, iommu_veventq_alloc, size, size)                      \
	F(veventq_alloc, iommu_veventq_alloc, flags, flags)                    \
	F(veventq_alloc, iommu_veventq_alloc, viommu_id, viommu_id)            \
	F(veventq_alloc, iommu_veventq_alloc, type, type)                      \
	F(veventq_alloc, iommu_veventq_alloc, veventq_depth, veventq_depth)    \
	F(veventq_alloc, iommu_veventq_alloc, out_veventq_id, out_veventq_id)  \
	F(veventq_alloc, iommu_veventq_alloc, out_veventq_fd, out_veventq_fd)  \
	F(veventq_alloc, iommu_veventq_alloc, reserved, __reserved)            \
	                                                                       \
	F(hw_queue_alloc, iommu_hw_queue_alloc, size, size)                    \
	F(hw_queue_alloc, iommu_hw_queue_alloc, flags, flags)                  \
	F(hw_queue_alloc, iommu_hw_queue_alloc, viommu_id, viommu_id)          \
	F(hw_queue_alloc, iommu_hw_queue_alloc, type, type)                    \
	F(hw_queue_alloc, iommu_hw_queue_alloc, index, index)                  \
	F(hw_queue_alloc, iommu_hw_queue_alloc, out_hw_queue_id,               \
	  out_hw_queue_id)                                                     \
	F(hw_queue_alloc, iommu_hw_queue_alloc, nesting_parent_iova,           \
	  nesting_parent_iova)                                                 \
	F(hw_queue_alloc, iommu_hw_queue_alloc, length, length)                \
	                                                                       \
	F(vfio_device_bind_iommufd, vfio_device_bind_iommufd, argsz, argsz)    \
	F(vfio_device_bind_iommufd, vfio_device_bind_iommufd, flags, flags)    \
	F(vfio_device_bind_iommufd, vfio_device_bind_iommufd, iommufd,         \
	  iommufd)                                                             \
	F(vfio_device_bind_iommufd, vfio_device_bind_iommufd, out_devid,       \
	  out_devid)                                                           \
	F(vfio_device_bind_iommufd, vfio_device_bind_iommufd, token_uuid_ptr,  \
	  token_uuid_ptr)                                                      \
	                                                                       \
	F(vfio_device_attach_iommufd_pt, vfio_device_attach_iommufd_pt, argsz, \
	  argsz)                                                               \
	F(vfio_device_attach_iommufd_pt, vfio_device_attach_iommufd_pt, flags, \
	  flags)                                                               \
	F(vfio_device_attach_iommufd_pt, vfio_device_attach_iommufd_pt, pt_id, \
	  pt_id)                                                               \
	F(vfio_device_attach_iommufd_pt, vfio_device_attach_iommufd_pt, pasid, \
	  pasid)                                                               \
	                                                                       \
	F(vfio_device_detach_iommufd_pt, vfio_device_detach_iommufd_pt, argsz, \
	  argsz)                                                               \
	F(vfio_device_detach_iommufd_pt, vfio_device_detach_iommufd_pt, flags, \
	  flags)                                                               \
	F(vfio_device_detach_iommufd_pt, vfio_device_detach_iommufd_pt, pasid, \
	  pasid)                                                               \
	                                                                       \
	F(vfio_region_dma_range, vfio_region_dma_range, offset, offset)        \
	F(vfio_region_dma_range, vfio_region_dma_range, length, length)        \
	F(vfio_device_feature_dma_buf, vfio_device_feature_dma_buf,            \
	  region_index, region_index)                                          \
	F(vfio_device_feature_dma_buf, vfio_device_feature_dma_buf,            \
	  open_flags, open_flags)                                              \
	F(vfio_device_feature_dma_buf, vfio_device_feature_dma_buf, flags,     \
	  flags)                                                               \
	F(vfio_device_feature_dma_buf, vfio_device_feature_dma_buf, nr_ranges, \
	  nr_ranges)

/* ---------------------------------------------------------------------------
 * Constants: C(our_macro, kernel_value).
 * ------------------------------------------------------------------------- */
#define ABI_CONSTS(C)                                                          \
	/* iommufd ioctl encoding and command indexes */                       \
	C(IFD_K_IOMMUFD_TYPE, IOMMUFD_TYPE)                                    \
	C(IFD_K_IOMMUFD_CMD_BASE, IOMMUFD_CMD_BASE)                            \
	C(IFD_K_IOMMUFD_CMD_DESTROY, IOMMUFD_CMD_DESTROY)                      \
	C(IFD_K_IOMMUFD_CMD_IOAS_ALLOC, IOMMUFD_CMD_IOAS_ALLOC)                \
	C(IFD_K_IOMMUFD_CMD_IOAS_ALLOW_IOVAS, IOMMUFD_CMD_IOAS_ALLOW_IOVAS)    \
	C(IFD_K_IOMMUFD_CMD_IOAS_COPY, IOMMUFD_CMD_IOAS_COPY)                  \
	C(IFD_K_IOMMUFD_CMD_IOAS_IOVA_RANGES, IOMMUFD_CMD_IOAS_IOVA_RANGES)    \
	C(IFD_K_IOMMUFD_CMD_IOAS_MAP, IOMMUFD_CMD_IOAS_MAP)                    \
	C(IFD_K_IOMMUFD_CMD_IOAS_UNMAP, IOMMUFD_CMD_IOAS_UNMAP)                \
	C(IFD_K_IOMMUFD_CMD_OPTION, IOMMUFD_CMD_OPTION)                        \
	C(IFD_K_IOMMUFD_CMD_VFIO_IOAS, IOMMUFD_CMD_VFIO_IOAS)                  \
	C(IFD_K_IOMMUFD_CMD_HWPT_ALLOC, IOMMUFD_CMD_HWPT_ALLOC)                \
	C(IFD_K_IOMMUFD_CMD_GET_HW_INFO, IOMMUFD_CMD_GET_HW_INFO)              \
	C(IFD_K_IOMMUFD_CMD_HWPT_SET_DIRTY_TRACKING,                           \
	  IOMMUFD_CMD_HWPT_SET_DIRTY_TRACKING)                                 \
	C(IFD_K_IOMMUFD_CMD_HWPT_GET_DIRTY_BITMAP,                             \
	  IOMMUFD_CMD_HWPT_GET_DIRTY_BITMAP)                                   \
	C(IFD_K_IOMMUFD_CMD_HWPT_INVALIDATE, IOMMUFD_CMD_HWPT_INVALIDATE)      \
	C(IFD_K_IOMMUFD_CMD_FAULT_QUEUE_ALLOC, IOMMUFD_CMD_FAULT_QUEUE_ALLOC)  \
	C(IFD_K_IOMMUFD_CMD_IOAS_MAP_FILE, IOMMUFD_CMD_IOAS_MAP_FILE)          \
	C(IFD_K_IOMMUFD_CMD_VIOMMU_ALLOC, IOMMUFD_CMD_VIOMMU_ALLOC)            \
	C(IFD_K_IOMMUFD_CMD_VDEVICE_ALLOC, IOMMUFD_CMD_VDEVICE_ALLOC)          \
	C(IFD_K_IOMMUFD_CMD_IOAS_CHANGE_PROCESS,                               \
	  IOMMUFD_CMD_IOAS_CHANGE_PROCESS)                                     \
	C(IFD_K_IOMMUFD_CMD_VEVENTQ_ALLOC, IOMMUFD_CMD_VEVENTQ_ALLOC)          \
	C(IFD_K_IOMMUFD_CMD_HW_QUEUE_ALLOC, IOMMUFD_CMD_HW_QUEUE_ALLOC)        \
	C(IFD_K_IOMMUFD_CMD_IOAS_NOIOMMU_GET_PA,                               \
	  IOMMUFD_CMD_IOAS_NOIOMMU_GET_PA)                                     \
	/* iommufd ioctl request numbers */                                    \
	C(IFD_K_IOMMU_DESTROY, IOMMU_DESTROY)                                  \
	C(IFD_K_IOMMU_IOAS_ALLOC, IOMMU_IOAS_ALLOC)                            \
	C(IFD_K_IOMMU_IOAS_ALLOW_IOVAS, IOMMU_IOAS_ALLOW_IOVAS)                \
	C(IFD_K_IOMMU_IOAS_COPY, IOMMU_IOAS_COPY)                              \
	C(IFD_K_IOMMU_IOAS_IOVA_RANGES, IOMMU_IOAS_IOVA_RANGES)                \
	C(IFD_K_IOMMU_IOAS_MAP, IOMMU_IOAS_MAP)                                \
	C(IFD_K_IOMMU_IOAS_UNMAP, IOMMU_IOAS_UNMAP)                            \
	C(IFD_K_IOMMU_OPTION, IOMMU_OPTION)                                    \
	C(IFD_K_IOMMU_VFIO_IOAS, IOMMU_VFIO_IOAS)                              \
	C(IFD_K_IOMMU_HWPT_ALLOC, IOMMU_HWPT_ALLOC)                            \
	C(IFD_K_IOMMU_GET_HW_INFO, IOMMU_GET_HW_INFO)                          \
	C(IFD_K_IOMMU_HWPT_SET_DIRTY_TRACKING, IOMMU_HWPT_SET_DIRTY_TRACKING)  \
	C(IFD_K_IOMMU_HWPT_GET_DIRTY_BITMAP, IOMMU_HWPT_GET_DIRTY_BITMAP)      \
	C(IFD_K_IOMMU_HWPT_INVALIDATE, IOMMU_HWPT_INVALIDATE)                  \
	C(IFD_K_IOMMU_FAULT_QUEUE_ALLOC, IOMMU_FAULT_QUEUE_ALLOC)              \
	C(IFD_K_IOMMU_IOAS_MAP_FILE, IOMMU_IOAS_MAP_FILE)                      \
	C(IFD_K_IOMMU_VIOMMU_ALLOC, IOMMU_VIOMMU_ALLOC)                        \
	C(IFD_K_IOMMU_VDEVICE_ALLOC, IOMMU_VDEVICE_ALLOC)                      \
	C(IFD_K_IOMMU_IOAS_CHANGE_PROCESS, IOMMU_IOAS_CHANGE_PROCESS)          \
	C(IFD_K_IOMMU_VEVENTQ_ALLOC, IOMMU_VEVENTQ_ALLOC)                      \
	C(IFD_K_IOMMU_HW_QUEUE_ALLOC, IOMMU_HW_QUEUE_ALLOC)                    \
	C(IFD_K_IOMMU_IOAS_NOIOMMU_GET_PA, IOMMU_IOAS_NOIOMMU_GET_PA)          \
	/* IOAS map/copy flags */                                              \
	C(IFD_K_IOMMU_IOAS_MAP_FIXED_IOVA, IOMMU_IOAS_MAP_FIXED_IOVA)          \
	C(IFD_K_IOMMU_IOAS_MAP_WRITEABLE, IOMMU_IOAS_MAP_WRITEABLE)            \
	C(IFD_K_IOMMU_IOAS_MAP_READABLE, IOMMU_IOAS_MAP_READABLE)              \
	/* IOMMU_OPTION */                                                     \
	C(IFD_K_IOMMU_OPTION_RLIMIT_MODE, IOMMU_OPTION_RLIMIT_MODE)            \
	C(IFD_K_IOMMU_OPTION_HUGE_PAGES, IOMMU_OPTION_HUGE_PAGES)              \
	C(IFD_K_IOMMU_OPTION_OP_SET, IOMMU_OPTION_OP_SET)                      \
	C(IFD_K_IOMMU_OPTION_OP_GET, IOMMU_OPTION_OP_GET)                      \
	/* IOMMU_VFIO_IOAS */                                                  \
	C(IFD_K_IOMMU_VFIO_IOAS_GET, IOMMU_VFIO_IOAS_GET)                      \
	C(IFD_K_IOMMU_VFIO_IOAS_SET, IOMMU_VFIO_IOAS_SET)                      \
	C(IFD_K_IOMMU_VFIO_IOAS_CLEAR, IOMMU_VFIO_IOAS_CLEAR)                  \
	/* HWPT allocation */                                                  \
	C(IFD_K_IOMMU_HWPT_ALLOC_NEST_PARENT, IOMMU_HWPT_ALLOC_NEST_PARENT)    \
	C(IFD_K_IOMMU_HWPT_ALLOC_DIRTY_TRACKING,                               \
	  IOMMU_HWPT_ALLOC_DIRTY_TRACKING)                                     \
	C(IFD_K_IOMMU_HWPT_FAULT_ID_VALID, IOMMU_HWPT_FAULT_ID_VALID)          \
	C(IFD_K_IOMMU_HWPT_ALLOC_PASID, IOMMU_HWPT_ALLOC_PASID)                \
	C(IFD_K_IOMMU_VTD_S1_SRE, IOMMU_VTD_S1_SRE)                            \
	C(IFD_K_IOMMU_VTD_S1_EAFE, IOMMU_VTD_S1_EAFE)                          \
	C(IFD_K_IOMMU_VTD_S1_WPE, IOMMU_VTD_S1_WPE)                            \
	C(IFD_K_IOMMU_HWPT_DATA_NONE, IOMMU_HWPT_DATA_NONE)                    \
	C(IFD_K_IOMMU_HWPT_DATA_VTD_S1, IOMMU_HWPT_DATA_VTD_S1)                \
	C(IFD_K_IOMMU_HWPT_DATA_ARM_SMMUV3, IOMMU_HWPT_DATA_ARM_SMMUV3)        \
	C(IFD_K_IOMMU_HWPT_DATA_AMD_GUEST, IOMMU_HWPT_DATA_AMD_GUEST)          \
	C(IFD_K_HWPT_ALLOC_SIZE_BASE,                                          \
	  KOFFEND(struct iommu_hwpt_alloc, __reserved))                        \
	C(IFD_K_HWPT_ALLOC_SIZE_DATA,                                          \
	  KOFFEND(struct iommu_hwpt_alloc, data_uptr))                         \
	C(IFD_K_HWPT_ALLOC_SIZE_FAULT,                                         \
	  KOFFEND(struct iommu_hwpt_alloc, __reserved2))                       \
	/* GET_HW_INFO */                                                      \
	C(IFD_K_IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17,                         \
	  IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17)                               \
	C(IFD_K_IOMMU_HW_INFO_ARM_SMMUV3_ERRATA_REPEAT_TLBI_CFGI,              \
	  IOMMU_HW_INFO_ARM_SMMUV3_ERRATA_REPEAT_TLBI_CFGI)                    \
	C(IFD_K_IOMMU_HW_INFO_TYPE_NONE, IOMMU_HW_INFO_TYPE_NONE)              \
	C(IFD_K_IOMMU_HW_INFO_TYPE_DEFAULT, IOMMU_HW_INFO_TYPE_DEFAULT)        \
	C(IFD_K_IOMMU_HW_INFO_TYPE_INTEL_VTD, IOMMU_HW_INFO_TYPE_INTEL_VTD)    \
	C(IFD_K_IOMMU_HW_INFO_TYPE_ARM_SMMUV3, IOMMU_HW_INFO_TYPE_ARM_SMMUV3)  \
	C(IFD_K_IOMMU_HW_INFO_TYPE_TEGRA241_CMDQV,                             \
	  IOMMU_HW_INFO_TYPE_TEGRA241_CMDQV)                                   \
	C(IFD_K_IOMMU_HW_INFO_TYPE_AMD, IOMMU_HW_INFO_TYPE_AMD)                \
	C(IFD_K_IOMMU_HW_CAP_DIRTY_TRACKING, IOMMU_HW_CAP_DIRTY_TRACKING)      \
	C(IFD_K_IOMMU_HW_CAP_PCI_PASID_EXEC, IOMMU_HW_CAP_PCI_PASID_EXEC)      \
	C(IFD_K_IOMMU_HW_CAP_PCI_PASID_PRIV, IOMMU_HW_CAP_PCI_PASID_PRIV)      \
	C(IFD_K_IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED,                            \
	  IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED)                                  \
	C(IFD_K_IOMMU_HW_INFO_FLAG_INPUT_TYPE, IOMMU_HW_INFO_FLAG_INPUT_TYPE)  \
	C(IFD_K_HW_INFO_SIZE_BASE, KOFFEND(struct iommu_hw_info, __reserved))  \
	C(IFD_K_HW_INFO_SIZE_CAPS,                                             \
	  KOFFEND(struct iommu_hw_info, out_capabilities))                     \
	/* dirty tracking */                                                   \
	C(IFD_K_IOMMU_HWPT_DIRTY_TRACKING_ENABLE,                              \
	  IOMMU_HWPT_DIRTY_TRACKING_ENABLE)                                    \
	C(IFD_K_IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR,                          \
	  IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR)                                \
	/* invalidation */                                                     \
	C(IFD_K_IOMMU_HWPT_INVALIDATE_DATA_VTD_S1,                             \
	  IOMMU_HWPT_INVALIDATE_DATA_VTD_S1)                                   \
	C(IFD_K_IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3,                       \
	  IOMMU_VIOMMU_INVALIDATE_DATA_ARM_SMMUV3)                             \
	C(IFD_K_IOMMU_VTD_INV_FLAGS_LEAF, IOMMU_VTD_INV_FLAGS_LEAF)            \
	/* page faults */                                                      \
	C(IFD_K_IOMMU_PGFAULT_FLAGS_PASID_VALID,                               \
	  IOMMU_PGFAULT_FLAGS_PASID_VALID)                                     \
	C(IFD_K_IOMMU_PGFAULT_FLAGS_LAST_PAGE, IOMMU_PGFAULT_FLAGS_LAST_PAGE)  \
	C(IFD_K_IOMMU_PGFAULT_PERM_READ, IOMMU_PGFAULT_PERM_READ)              \
	C(IFD_K_IOMMU_PGFAULT_PERM_WRITE, IOMMU_PGFAULT_PERM_WRITE)            \
	C(IFD_K_IOMMU_PGFAULT_PERM_EXEC, IOMMU_PGFAULT_PERM_EXEC)              \
	C(IFD_K_IOMMU_PGFAULT_PERM_PRIV, IOMMU_PGFAULT_PERM_PRIV)              \
	C(IFD_K_IOMMUFD_PAGE_RESP_SUCCESS, IOMMUFD_PAGE_RESP_SUCCESS)          \
	C(IFD_K_IOMMUFD_PAGE_RESP_INVALID, IOMMUFD_PAGE_RESP_INVALID)          \
	/* vIOMMU, vEVENTQ, HW queue */                                        \
	C(IFD_K_IOMMU_VIOMMU_TYPE_DEFAULT, IOMMU_VIOMMU_TYPE_DEFAULT)          \
	C(IFD_K_IOMMU_VIOMMU_TYPE_ARM_SMMUV3, IOMMU_VIOMMU_TYPE_ARM_SMMUV3)    \
	C(IFD_K_IOMMU_VIOMMU_TYPE_TEGRA241_CMDQV,                              \
	  IOMMU_VIOMMU_TYPE_TEGRA241_CMDQV)                                    \
	C(IFD_K_VIOMMU_ALLOC_SIZE_BASE,                                        \
	  KOFFEND(struct iommu_viommu_alloc, out_viommu_id))                   \
	C(IFD_K_VIOMMU_ALLOC_SIZE_DATA,                                        \
	  KOFFEND(struct iommu_viommu_alloc, data_uptr))                       \
	C(IFD_K_IOMMU_VEVENTQ_FLAG_LOST_EVENTS, IOMMU_VEVENTQ_FLAG_LOST_EVENTS) \
	C(IFD_K_IOMMU_VEVENTQ_TYPE_DEFAULT, IOMMU_VEVENTQ_TYPE_DEFAULT)        \
	C(IFD_K_IOMMU_VEVENTQ_TYPE_ARM_SMMUV3, IOMMU_VEVENTQ_TYPE_ARM_SMMUV3)  \
	C(IFD_K_IOMMU_VEVENTQ_TYPE_TEGRA241_CMDQV,                             \
	  IOMMU_VEVENTQ_TYPE_TEGRA241_CMDQV)                                   \
	C(IFD_K_IOMMU_HW_QUEUE_TYPE_DEFAULT, IOMMU_HW_QUEUE_TYPE_DEFAULT)      \
	C(IFD_K_IOMMU_HW_QUEUE_TYPE_TEGRA241_CMDQV,                            \
	  IOMMU_HW_QUEUE_TYPE_TEGRA241_CMDQV)                                  \
	/* VFIO cdev */                                                        \
	C(IFD_K_VFIO_TYPE, VFIO_TYPE)                                          \
	C(IFD_K_VFIO_BASE, VFIO_BASE)                                          \
	C(IFD_K_VFIO_DEVICE_BIND_FLAG_TOKEN, VFIO_DEVICE_BIND_FLAG_TOKEN)      \
	C(IFD_K_VFIO_DEVICE_BIND_IOMMUFD, VFIO_DEVICE_BIND_IOMMUFD)            \
	C(IFD_K_VFIO_DEVICE_BIND_IOMMUFD_SIZE_BASE,                            \
	  KOFFEND(struct vfio_device_bind_iommufd, out_devid))                 \
	C(IFD_K_VFIO_DEVICE_BIND_IOMMUFD_SIZE_TOKEN,                           \
	  KOFFEND(struct vfio_device_bind_iommufd, token_uuid_ptr))            \
	C(IFD_K_VFIO_DEVICE_ATTACH_PASID, VFIO_DEVICE_ATTACH_PASID)            \
	C(IFD_K_VFIO_DEVICE_ATTACH_IOMMUFD_PT, VFIO_DEVICE_ATTACH_IOMMUFD_PT)  \
	C(IFD_K_VFIO_DEVICE_ATTACH_IOMMUFD_PT_SIZE_BASE,                       \
	  KOFFEND(struct vfio_device_attach_iommufd_pt, pt_id))                \
	C(IFD_K_VFIO_DEVICE_ATTACH_IOMMUFD_PT_SIZE_PASID,                      \
	  KOFFEND(struct vfio_device_attach_iommufd_pt, pasid))                \
	C(IFD_K_VFIO_DEVICE_DETACH_PASID, VFIO_DEVICE_DETACH_PASID)            \
	C(IFD_K_VFIO_DEVICE_DETACH_IOMMUFD_PT, VFIO_DEVICE_DETACH_IOMMUFD_PT)  \
	C(IFD_K_VFIO_DEVICE_DETACH_IOMMUFD_PT_SIZE_BASE,                       \
	  KOFFEND(struct vfio_device_detach_iommufd_pt, flags))                \
	C(IFD_K_VFIO_DEVICE_DETACH_IOMMUFD_PT_SIZE_PASID,                      \
	  KOFFEND(struct vfio_device_detach_iommufd_pt, pasid))                \
	C(IFD_K_VFIO_PCI_HOT_RESET_FLAG_DEV_ID, VFIO_PCI_HOT_RESET_FLAG_DEV_ID) \
	C(IFD_K_VFIO_PCI_HOT_RESET_FLAG_DEV_ID_OWNED,                          \
	  VFIO_PCI_HOT_RESET_FLAG_DEV_ID_OWNED)                                \
	C(IFD_K_VFIO_PCI_DEVID_OWNED, (uint32_t)VFIO_PCI_DEVID_OWNED)          \
	/* the devid field is a u32, so the kernel's -1 is compared as a u32 */ \
	C(IFD_K_VFIO_PCI_DEVID_NOT_OWNED, (uint32_t)VFIO_PCI_DEVID_NOT_OWNED)  \
	C(IFD_K_VFIO_DEVICE_FEATURE_DMA_BUF, VFIO_DEVICE_FEATURE_DMA_BUF)

/* ===========================================================================
 * Layer 1: compile-time checks.
 * ========================================================================= */

#define SA_STRUCT(o, k)                                                        \
	_Static_assert(sizeof(struct ifd_k_##o) == sizeof(struct k),           \
		       "sizeof(struct ifd_k_" #o ") != sizeof(struct " #k ")");
ABI_STRUCTS(SA_STRUCT)

#define SA_FIELD(o, k, of, kf)                                                 \
	_Static_assert(offsetof(struct ifd_k_##o, of) ==                       \
			       offsetof(struct k, kf),                         \
		       "offset of ifd_k_" #o "." #of " != " #k "." #kf);       \
	_Static_assert(sizeof(((struct ifd_k_##o *)0)->of) ==                  \
			       sizeof(((struct k *)0)->kf),                    \
		       "size of ifd_k_" #o "." #of " != " #k "." #kf);
ABI_FIELDS(SA_FIELD)

#define SA_CONST(o, k)                                                         \
	_Static_assert((unsigned long long)(o) == (unsigned long long)(k),     \
		       #o " != " #k);
ABI_CONSTS(SA_CONST)

/* ===========================================================================
 * Layer 2: run-time comparison and coverage.
 * ========================================================================= */

struct struct_row {
	const char *ours;	/* without the "ifd_k_" prefix */
	const char *kernel;
	size_t our_size, kernel_size;
	unsigned int nfields;	/* filled in from the field table */
	int seen_in_kabi;	/* layer 3 */
};

struct field_row {
	const char *ours;
	const char *kernel;
	const char *our_field, *kernel_field;
	size_t our_off, kernel_off, our_size, kernel_size;
};

struct const_row {
	const char *ours, *kernel;
	unsigned long long our_val, kernel_val;
	int seen_in_kabi;	/* layer 3 */
};

#define ROW_STRUCT(o, k) \
	{ #o, #k, sizeof(struct ifd_k_##o), sizeof(struct k), 0, 0 },
static struct struct_row structs[] = { ABI_STRUCTS(ROW_STRUCT) };

#define ROW_FIELD(o, k, of, kf)                                                \
	{ #o, #k, #of, #kf,                                                    \
	  offsetof(struct ifd_k_##o, of), offsetof(struct k, kf),              \
	  sizeof(((struct ifd_k_##o *)0)->of), sizeof(((struct k *)0)->kf) },
static const struct field_row fields[] = { ABI_FIELDS(ROW_FIELD) };

#define ROW_CONST(o, k)                                                        \
	{ #o, #k, (unsigned long long)(o), (unsigned long long)(k), 0 },
static struct const_row consts[] = { ABI_CONSTS(ROW_CONST) };

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static int failures;

/* Variadic so that the compiler checks each caller's format (CI builds
 * with -Werror, and -Wformat-nonliteral rejects a format passed through). */
__attribute__((format(printf, 1, 2)))
static void fail(const char *fmt, ...)
{
	va_list ap;

	printf("FAIL ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	failures++;
}

static struct struct_row *find_struct(const char *ours)
{
	for (size_t i = 0; i < N_OF(structs); i++)
		if (strcmp(structs[i].ours, ours) == 0)
			return &structs[i];
	return NULL;
}

static struct const_row *find_const(const char *ours)
{
	for (size_t i = 0; i < N_OF(consts); i++)
		if (strcmp(consts[i].ours, ours) == 0)
			return &consts[i];
	return NULL;
}

static void check_structs_and_fields(void)
{
	for (size_t i = 0; i < N_OF(structs); i++) {
		struct struct_row *s = &structs[i];
		size_t covered = 0, prev_off = 0;
		unsigned int n = 0;

		if (s->our_size != s->kernel_size)
			fail("struct ifd_k_%s: size differs from struct %s",
			     s->ours, s->kernel);

		for (size_t j = 0; j < N_OF(fields); j++) {
			const struct field_row *f = &fields[j];

			if (strcmp(f->ours, s->ours) != 0)
				continue;
			if (f->our_off != f->kernel_off ||
			    f->our_size != f->kernel_size) {
				printf("FAIL ifd_k_%s.%s at %zu+%zu, %s.%s at "
				       "%zu+%zu\n", f->ours, f->our_field,
				       f->our_off, f->our_size, f->kernel,
				       f->kernel_field, f->kernel_off,
				       f->kernel_size);
				failures++;
			}
			/*
			 * Coverage: the next field starts where the bytes
			 * covered so far end, or (a union member) where the
			 * previous field started.
			 */
			if (f->our_off != covered &&
			    !(n > 0 && f->our_off == prev_off)) {
				printf("FAIL ifd_k_%s.%s starts at %zu, but "
				       "bytes are covered up to %zu: a field "
				       "is missing from the check list or out "
				       "of order\n", f->ours, f->our_field,
				       f->our_off, covered);
				failures++;
			}
			if (f->our_off + f->our_size > covered)
				covered = f->our_off + f->our_size;
			prev_off = f->our_off;
			n++;
		}
		s->nfields = n;
		if (covered != s->our_size) {
			printf("FAIL struct ifd_k_%s: checked fields cover %zu of "
			       "%zu bytes\n", s->ours, covered, s->our_size);
			failures++;
		}
		printf("ok   struct ifd_k_%-30s == struct %-36s %3zu bytes, "
		       "%2u fields\n", s->ours, s->kernel, s->our_size, n);
	}

	/* Every field row must belong to a listed struct. */
	for (size_t j = 0; j < N_OF(fields); j++)
		if (!find_struct(fields[j].ours))
			fail("field row for unknown struct ifd_k_%s (%s)",
			     fields[j].ours, fields[j].our_field);
}

static void check_consts(void)
{
	for (size_t i = 0; i < N_OF(consts); i++) {
		const struct const_row *c = &consts[i];

		if (c->our_val != c->kernel_val) {
			printf("FAIL %s = %#llx, %s = %#llx\n", c->ours,
			       c->our_val, c->kernel, c->kernel_val);
			failures++;
			continue;
		}
		printf("ok   %-50s == %-45s %#llx\n", c->ours, c->kernel,
		       c->our_val);
	}
}

/* ===========================================================================
 * Layer 3: everything kabi.h defines is in the tables above.
 * ========================================================================= */

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0, cap = 0;

	if (!f)
		return NULL;
	for (;;) {
		if (cap - len < 4096) {
			char *nbuf;

			cap = cap ? cap * 2 : 65536;
			nbuf = realloc(buf, cap);
			if (!nbuf) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = nbuf;
		}
		size_t got = fread(buf + len, 1, cap - len - 1, f);
		if (got == 0)
			break;
		len += got;
	}
	fclose(f);
	buf[len] = '\0';
	return buf;
}

/* Blank out comments (keeping newlines) so they cannot confuse the scan. */
static void strip_comments(char *p)
{
	while (*p) {
		if (p[0] == '/' && p[1] == '*') {
			p[0] = p[1] = ' ';
			p += 2;
			while (*p && !(p[0] == '*' && p[1] == '/')) {
				if (*p != '\n')
					*p = ' ';
				p++;
			}
			if (*p) {
				p[0] = p[1] = ' ';
				p += 2;
			}
		} else if (p[0] == '/' && p[1] == '/') {
			while (*p && *p != '\n')
				*p++ = ' ';
		} else {
			p++;
		}
	}
}

static int is_ident(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_';
}

static void check_kabi_source(const char *path)
{
	char *text = read_file(path);
	unsigned int nstructs = 0, nconsts = 0;
	struct struct_row *in_struct = NULL;
	unsigned int decls = 0;

	if (!text) {
		printf("FAIL cannot read %s (%s): pass the path of lib/kabi.h "
		       "as the first argument\n", path, strerror(errno));
		failures++;
		return;
	}
	strip_comments(text);

	for (char *line = text; line && *line;) {
		char *next = strchr(line, '\n');
		char *p = line;

		if (next)
			*next++ = '\0';
		while (*p == ' ' || *p == '\t')
			p++;

		if (in_struct) {
			if (strncmp(p, "};", 2) == 0 && line[0] == '}') {
				/* end of the struct (column 0) */
				if (decls != in_struct->nfields) {
					printf("FAIL struct ifd_k_%s declares "
					       "%u fields in kabi.h, %u are "
					       "checked\n", in_struct->ours,
					       decls, in_struct->nfields);
					failures++;
				}
				in_struct = NULL;
			} else if (*p != '}' && strchr(p, ';')) {
				decls++;	/* one declaration per line */
			}
		} else if (strncmp(line, "struct ifd_k_", 13) == 0) {
			char name[128];
			size_t n = 0;
			const char *q = line + 13;

			while (is_ident(q[n]) && n < sizeof(name) - 1) {
				name[n] = q[n];
				n++;
			}
			name[n] = '\0';
			q += n;
			while (*q == ' ')
				q++;
			if (*q == '{') {
				nstructs++;
				in_struct = find_struct(name);
				if (!in_struct) {
					fail("kabi.h defines struct ifd_k_%s%s "
					     "but abi-check does not check it",
					     name, "");
				} else {
					in_struct->seen_in_kabi = 1;
					decls = 0;
				}
			}
		} else if (strncmp(p, "#define IFD_K_", 14) == 0 ||
			   (strncmp(p, "#", 1) == 0 &&
			    strstr(p, "define IFD_K_"))) {
			const char *q = strstr(p, "IFD_K_");
			char name[128];
			size_t n = 0;

			while (is_ident(q[n]) && n < sizeof(name) - 1) {
				name[n] = q[n];
				n++;
			}
			name[n] = '\0';
			if (q[n] != '(') {	/* object-like: an ABI value */
				struct const_row *c = find_const(name);

				nconsts++;
				if (!c)
					fail("kabi.h defines %s%s but abi-check "
					     "does not check it", name, "");
				else
					c->seen_in_kabi = 1;
			}
		}
		line = next;
	}
	free(text);

	for (size_t i = 0; i < N_OF(structs); i++)
		if (!structs[i].seen_in_kabi)
			fail("struct ifd_k_%s%s not found by the scan of kabi.h",
			     structs[i].ours, "");
	for (size_t i = 0; i < N_OF(consts); i++)
		if (!consts[i].seen_in_kabi)
			fail("%s%s not found by the scan of kabi.h",
			     consts[i].ours, "");
	printf("ok   %s: %u struct definitions and %u object-like IFD_K_ "
	       "macros, all checked\n", path, nstructs, nconsts);
}

int main(int argc, char **argv)
{
	char default_path[4096];
	const char *kabi_path;
	size_t nfields = N_OF(fields);

	if (argc > 1) {
		kabi_path = argv[1];
	} else {
		/* This file is tests/abi/abi-check.c; kabi.h is lib/kabi.h. */
		const char *src = __FILE__;
		const char *slash = strrchr(src, '/');
		int dirlen = slash ? (int)(slash - src) : 1;

		snprintf(default_path, sizeof(default_path),
			 "%.*s/../../lib/kabi.h", dirlen, slash ? src : ".");
		kabi_path = default_path;
	}

	check_structs_and_fields();
	check_consts();
	check_kabi_source(kabi_path);

	if (failures) {
		printf("abi-check: %d mismatches against Linux %d.%d uAPI "
		       "headers\n", failures, LINUX_VERSION_MAJOR,
		       LINUX_VERSION_PATCHLEVEL);
		return 1;
	}
	printf("abi-check: %zu structs, %zu fields, %zu constants match "
	       "%d.%d\n", N_OF(structs), nfields, N_OF(consts),
	       LINUX_VERSION_MAJOR, LINUX_VERSION_PATCHLEVEL);
	return 0;
}
