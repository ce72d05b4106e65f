//go:build !unix

package kernel

import (
	"context"
	"errors"
)

func lock(context.Context, string, func()) (func(), error) {
	return nil, errors.New("kernel: building a kernel needs Linux")
}
