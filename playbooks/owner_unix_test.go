package playbooks_test

import (
	"os"
	"syscall"
)

// ownerUID is the user id that owns the file fi describes.
func ownerUID(fi os.FileInfo) uint32 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Uid
	}
	return ^uint32(0)
}
