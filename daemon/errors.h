/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The io.pcipass errors, as io.pcipass.varlink declares them: named here once. */

#define ERROR_READ_ONLY			"io.pcipass.ReadOnly"
#define ERROR_DISABLED			"io.pcipass.Disabled"
#define ERROR_DEVICE_DENIED		"io.pcipass.DeviceDenied"
#define ERROR_GROUP_BLOCKED		"io.pcipass.GroupBlocked"
#define ERROR_TRANSACTION_FAILED	"io.pcipass.TransactionFailed"
#define ERROR_POLICY_INVALID		"io.pcipass.PolicyInvalid"
#define ERROR_PERMISSION_DENIED		"io.pcipass.PermissionDenied"
#define ERROR_NO_SUCH_DEVICE		"io.pcipass.NoSuchDevice"
#define ERROR_NO_ROM			"io.pcipass.NoRom"
#define ERROR_DEVICE_BUSY		"io.pcipass.DeviceBusy"
#define ERROR_NO_SUCH_POOL		"io.pcipass.NoSuchPool"
#define ERROR_NO_FREE_GROUP		"io.pcipass.NoFreeGroup"
#define ERROR_NOT_VIABLE		"io.pcipass.NotViable"
#define ERROR_GROUP_LEASED		"io.pcipass.GroupLeased"
#define ERROR_NO_SUCH_LEASE		"io.pcipass.NoSuchLease"
#define ERROR_NOT_PASSED_THROUGH	"io.pcipass.NotPassedThrough"
#define ERROR_SYSTEM			"io.pcipass.SystemError"
