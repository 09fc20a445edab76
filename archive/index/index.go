// Package index handles duplicity "indexes": paths relative to the backup
// root, held as raw bytes in a Go string with components joined by "/".
// The root is the empty string. Names are never assumed to be UTF-8.
package index

import (
	"errors"
	"fmt"
	"strings"
)

// Compare orders two indexes the way duplicity walks a tree: component by
// component, each compared as raw bytes. That is byte order with "/" sorting
// below every other byte, so "a/b" < "a-c" < "a.d" < "a0".
func Compare(a, b string) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		ca, cb := a[i], b[i]
		if ca == cb {
			continue
		}
		if ca == '/' {
			return -1
		}
		if cb == '/' {
			return 1
		}
		if ca < cb {
			return -1
		}
		return 1
	}
	switch {
	case len(a) < len(b):
		return -1
	case len(a) > len(b):
		return 1
	}
	return 0
}

// Within reports whether p is prefix itself or lies below it.
func Within(p, prefix string) bool {
	if prefix == "" {
		return true
	}
	return p == prefix || (strings.HasPrefix(p, prefix) && p[len(prefix)] == '/')
}

// Rel returns p relative to prefix; p must be Within prefix.
func Rel(p, prefix string) string {
	if prefix == "" || p == prefix {
		if p == prefix {
			return ""
		}
		return p
	}
	return p[len(prefix)+1:]
}

// Parent returns the index of p's directory ("" for top-level entries).
func Parent(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i]
	}
	return ""
}

// Base returns the last component of p.
func Base(p string) string {
	return p[strings.LastIndexByte(p, '/')+1:]
}

// ErrUnsafe marks an index that could escape the restore root.
var ErrUnsafe = errors.New("unsafe path in archive")

// Check rejects indexes that are absolute, contain empty, "." or ".."
// components, or hold a NUL byte. The root ("") is valid.
func Check(p string) error {
	if p == "" {
		return nil
	}
	if strings.IndexByte(p, 0) >= 0 {
		return fmt.Errorf("%q: %w (NUL byte)", p, ErrUnsafe)
	}
	for _, c := range strings.Split(p, "/") {
		switch c {
		case "", ".", "..":
			return fmt.Errorf("%q: %w", p, ErrUnsafe)
		}
	}
	return nil
}

// Display renders an index for humans: "." for the root.
func Display(p string) string {
	if p == "" {
		return "."
	}
	return p
}
