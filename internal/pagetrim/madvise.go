package pagetrim

import "golang.org/x/sys/unix"

// madvise gives the kernel advice about a mapping of the process, by address (the mapping is never read or
// written here, so no Go slice is made of it).
func madvise(r Range, advice int) error {
	if _, _, errno := unix.Syscall(unix.SYS_MADVISE, r.Start, r.Len(), uintptr(advice)); errno != 0 {
		return errno
	}
	return nil
}
