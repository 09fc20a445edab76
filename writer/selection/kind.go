package selection

import "fmt"

// Kind is one of duplicity's selection options.
type Kind int

// The selection options, named after duplicity's command-line flags.
const (
	Include                 Kind = iota + 1 // --include GLOB
	Exclude                                 // --exclude GLOB
	IncludeFilelist                         // --include-filelist FILE
	ExcludeFilelist                         // --exclude-filelist FILE
	IncludeRegexp                           // --include-regexp RE
	ExcludeRegexp                           // --exclude-regexp RE
	ExcludeIfPresent                        // --exclude-if-present NAME
	ExcludeOtherFilesystems                 // --exclude-other-filesystems
	ExcludeDeviceFiles                      // --exclude-device-files
)

var kindNames = map[Kind]string{
	Include:                 "--include",
	Exclude:                 "--exclude",
	IncludeFilelist:         "--include-filelist",
	ExcludeFilelist:         "--exclude-filelist",
	IncludeRegexp:           "--include-regexp",
	ExcludeRegexp:           "--exclude-regexp",
	ExcludeIfPresent:        "--exclude-if-present",
	ExcludeOtherFilesystems: "--exclude-other-filesystems",
	ExcludeDeviceFiles:      "--exclude-device-files",
}

// String is the option's duplicity spelling, e.g. "--exclude".
func (k Kind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return fmt.Sprintf("selection.Kind(%d)", int(k))
}

// HasArg reports whether the option takes an argument.
func (k Kind) HasArg() bool {
	return k != ExcludeOtherFilesystems && k != ExcludeDeviceFiles
}

// KindFor maps a duplicity option ("--exclude", or the deprecated
// "--include-globbing-filelist"/"--exclude-globbing-filelist", which
// duplicity treats as the plain filelists) to its Kind.
func KindFor(option string) (Kind, bool) {
	switch option {
	case "--include-globbing-filelist":
		return IncludeFilelist, true
	case "--exclude-globbing-filelist":
		return ExcludeFilelist, true
	}
	for k, s := range kindNames {
		if s == option {
			return k, true
		}
	}
	return 0, false
}
