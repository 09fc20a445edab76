package selection

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"unicode/utf8"
)

// filelist reads a filelist as duplicity's filelist_globbing_get_sfs does:
// the file is UTF-8 text read with Python's universal newlines, split on
// newlines (or NULs), and every line that is not blank or a comment is a
// glob, included or excluded by default as the option says or as a
// leading "+ " or "- " says.
func (b *builder) filelist(name string, include, nulSeparated bool) ([]selFunc, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the caller names the file
		}
		return nil, err
	}
	if !utf8.Valid(data) {
		return nil, errors.New("not valid UTF-8 text")
	}
	text := strings.ReplaceAll(string(data), "\r\n", "\n")
	text = strings.ReplaceAll(text, "\r", "\n")
	sep := "\n"
	if nulSeparated {
		sep = "\x00"
	}
	var funcs []selFunc
	for i, line := range strings.Split(text, sep) {
		glob, inc, ok := filelistLine(line, include)
		if !ok {
			continue
		}
		f, err := b.glob(glob, inc)
		if err != nil {
			return nil, fmt.Errorf("line %d %q: %w", i+1, glob, err)
		}
		funcs = append(funcs, f)
	}
	return funcs, nil
}

// filelistLine is duplicity's filelist_sanitise_line: surrounding
// whitespace (Python's notion of it) is dropped, blank lines and lines
// starting with "#" are skipped, "+ " and "- " choose include or exclude,
// and one pair of enclosing quotes is removed.
func filelistLine(line string, include bool) (glob string, inc, ok bool) {
	line = strings.TrimFunc(line, pyIsSpace)
	if line == "" || line[0] == '#' {
		return "", false, false
	}
	inc = include
	switch {
	case strings.HasPrefix(line, "+ "):
		inc, line = true, line[2:]
	case strings.HasPrefix(line, "- "):
		inc, line = false, line[2:]
	}
	if n := len(line); n > 0 && (line[0] == '\'' && line[n-1] == '\'' || line[0] == '"' && line[n-1] == '"') {
		line = line[1:max(1, n-1)]
	}
	return line, inc, line != ""
}
