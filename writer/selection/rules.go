package selection

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"syscall"
)

// builder turns Rules into selection functions in duplicity's order.
type builder struct {
	root     string
	rootInfo fs.FileInfo // nil when the root could not be lstat'ed
	rootErr  error
	front    []selFunc // added "to start", most recent first
	back     []selFunc
}

func (b *builder) funcs() []selFunc {
	return append(append([]selFunc(nil), b.front...), b.back...)
}

// prepend is duplicity's add_to_start: --exclude-if-present and
// --exclude-device-files run before every other rule.
func (b *builder) prepend(f selFunc) {
	b.front = append([]selFunc{f}, b.front...)
}

func (b *builder) add(r Rule, set settings) error {
	switch r.Kind {
	case Include, Exclude:
		f, err := b.glob(r.Arg, r.Kind == Include)
		if err != nil {
			return fmt.Errorf("%s %q: %w", r.Kind, r.Arg, err)
		}
		b.back = append(b.back, f)
	case IncludeFilelist, ExcludeFilelist:
		funcs, err := b.filelist(r.Arg, r.Kind == IncludeFilelist, set.nullSeparator)
		if err != nil {
			return fmt.Errorf("%s %s: %w", strings.TrimPrefix(r.Kind.String(), "--"), r.Arg, err)
		}
		b.back = append(b.back, funcs...)
	case IncludeRegexp, ExcludeRegexp:
		f, err := regexpFunc(r.Arg, r.Kind == IncludeRegexp)
		if err != nil {
			return fmt.Errorf("%s %q: %w", r.Kind, r.Arg, err)
		}
		b.back = append(b.back, f)
	case ExcludeIfPresent:
		b.prepend(presentFunc(r.Arg))
	case ExcludeDeviceFiles:
		b.prepend(selFunc{test: devFilesTest, exclude: true, name: r.Kind.String()})
	case ExcludeOtherFilesystems:
		rootDev, ok := (&candidate{info: b.rootInfo}).dev()
		if !ok {
			return fmt.Errorf("%s: source device: %w", r.Kind, b.rootErr)
		}
		b.back = append(b.back, selFunc{test: otherFSTest(rootDev), exclude: true, name: r.Kind.String()})
	default:
		return fmt.Errorf("selection: unknown rule kind %d", int(r.Kind))
	}
	return nil
}

// glob is duplicity's glob_get_sf: "**" alone decides every path without
// any check; other globs must be able to match the source directory.
func (b *builder) glob(glob string, include bool) (selFunc, error) {
	f := selFunc{exclude: !include, name: fmt.Sprintf("%s %q", pick(include, Include, Exclude), glob)}
	if glob == "**" {
		v := verdictOf(include)
		f.test = func(*candidate) verdict { return v }
		return f, nil
	}
	text, fold := ignorecase(decodeFS(glob))
	// duplicity checks the prefix with a case-sensitive include version of
	// the (already lowercased) glob, so "ignorecase:" globs naming the
	// source directory fail when its name has capitals.
	check, err := newGlobFunc(text, true, false)
	if err != nil {
		return f, err
	}
	if check.test(&candidate{path: b.root, info: b.rootInfo}) == undecided {
		return f, fmt.Errorf("source %q: %w", b.root, ErrFilePrefix)
	}
	g, err := newGlobFunc(text, include, fold)
	if err != nil {
		return f, err
	}
	f.test = g.test
	return f, nil
}

// regexpFunc is duplicity's regexp_get_sf: a search anywhere in the path.
func regexpFunc(expr string, include bool) (selFunc, error) {
	re, err := compilePyRegexp(expr)
	if err != nil {
		return selFunc{}, err
	}
	v := verdictOf(include)
	kind := pick(include, IncludeRegexp, ExcludeRegexp)
	return selFunc{
		test: func(c *candidate) verdict {
			if re.MatchString(c.path) {
				return v
			}
			return undecided
		},
		exclude: !include,
		name:    fmt.Sprintf("%s %q", kind, expr),
	}, nil
}

func pick(include bool, inc, exc Kind) Kind {
	if include {
		return inc
	}
	return exc
}

func devFilesTest(c *candidate) verdict {
	if c.info != nil && c.info.Mode()&fs.ModeDevice != 0 {
		return excluded
	}
	return undecided
}

func otherFSTest(rootDev uint64) func(*candidate) verdict {
	return func(c *candidate) verdict {
		if dev, ok := c.dev(); ok && dev != rootDev {
			return excluded
		}
		return undecided
	}
}

// presentFunc is duplicity's present_get_sf: a directory holding an entry
// named name is excluded with everything in it.
func presentFunc(name string) selFunc {
	return selFunc{
		test: func(c *candidate) verdict {
			if c.isDir() && dirHas(c.path, name) {
				return excluded
			}
			return undecided
		},
		exclude: true,
		name:    fmt.Sprintf("%s %q", ExcludeIfPresent, name),
	}
}

// dirHas reports whether listing dir would show name, as duplicity's
// Path.contains does. One lstat answers it without listing big directories;
// a directory that can be read but not searched falls back to listing.
// Unreadable directories hold nothing, as in duplicity.
func dirHas(dir, name string) bool {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
		return false
	}
	_, err := os.Lstat(join(dir, name))
	if err == nil {
		return true
	}
	if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ENOTDIR) {
		return false
	}
	names, err := readNames(dir)
	if err != nil {
		return false
	}
	for _, n := range names {
		if n == name {
			return true
		}
	}
	return false
}
