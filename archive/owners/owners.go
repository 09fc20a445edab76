// Package owners translates between local user and group ids and the names
// duplicity stores beside them in tar headers. Backups record both; reads
// prefer the local id of the name, falling back to the stored number, so an
// archive moved to another machine keeps owners by name where it can.
package owners

import (
	"os/user"
	"strconv"
	"sync"
)

// Map caches lookups in both directions for one kind of id (users or
// groups). It is safe for concurrent use.
type Map struct {
	byName func(name string) (string, error) // name -> id as text
	byID   func(id string) (string, error)   // id as text -> name

	mu    sync.Mutex
	ids   map[string]int // name -> local id, or -1 if none
	names map[int]string // id -> name, "" if none
}

// Users maps user names and uids.
func Users() *Map {
	return &Map{
		byName: func(n string) (string, error) {
			u, err := user.Lookup(n)
			if err != nil {
				return "", err
			}
			return u.Uid, nil
		},
		byID: func(id string) (string, error) {
			u, err := user.LookupId(id)
			if err != nil {
				return "", err
			}
			return u.Username, nil
		},
	}
}

// Groups maps group names and gids.
func Groups() *Map {
	return &Map{
		byName: func(n string) (string, error) {
			g, err := user.LookupGroup(n)
			if err != nil {
				return "", err
			}
			return g.Gid, nil
		},
		byID: func(id string) (string, error) {
			g, err := user.LookupGroupId(id)
			if err != nil {
				return "", err
			}
			return g.Name, nil
		},
	}
}

// ID returns the local id of name, or stored when name is empty or unknown
// here, as duplicity does for every entry it reads.
func (m *Map) ID(name string, stored int) int {
	if name == "" {
		return stored
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	local, ok := m.ids[name]
	if !ok {
		local = -1
		if s, err := m.byName(name); err == nil {
			if n, err := strconv.Atoi(s); err == nil {
				local = n
			}
		}
		if m.ids == nil {
			m.ids = map[string]int{}
		}
		m.ids[name] = local
	}
	if local < 0 {
		return stored
	}
	return local
}

// Name returns the name of a local id, or "" when it has none, as a backup
// records it.
func (m *Map) Name(id int) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	name, ok := m.names[id]
	if !ok {
		name, _ = m.byID(strconv.Itoa(id))
		if m.names == nil {
			m.names = map[int]string{}
		}
		m.names[id] = name
	}
	return name
}
