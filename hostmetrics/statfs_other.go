//go:build !linux

package hostmetrics

import "errors"

// realStatfs is only implemented on Linux, the one platform edgetail ships
// for; elsewhere every mount gets an error entry and the rest still works.
func realStatfs(path string) (fsUsage, error) {
	return fsUsage{}, errors.ErrUnsupported
}
