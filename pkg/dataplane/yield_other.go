//go:build !linux

package dataplane

import "runtime"

func osYield() { runtime.Gosched() }
