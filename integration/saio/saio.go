// Package saio runs a real OpenStack Swift server ("Swift all in one") on
// loopback for integration tests, and a sealing proxy in front of it that
// behaves like OVH Public Cloud Archive (see SealProxy).
//
// A test package starts Swift with Start and ends its TestMain with Main:
//
//	func TestMain(m *testing.M) { saio.Main(m) }
//
//	func TestX(t *testing.T) {
//		srv := saio.Start(t, saio.Options{ListingLimit: 2})
//		pca := srv.SealProxy(t, 2*time.Second)
//		c := pca.Conn(t)
//		...
//	}
//
// The server is one per test binary and options: every test that asks for the
// same options gets the same running server, so a test never stops it. Main
// stops what the binary started, and the server also stops itself within a
// second of the test binary's death (panic, -timeout, SIGKILL), so nothing is
// left running.
//
// Without explicit Dir/Port (Options or SWIFT_SAIO_DIR/SWIFT_SAIO_PORT),
// each server takes the first free slot of five ports from 18080 up
// (18080..18084, then 18090..18094, ...), held by a lock file for the life of
// the binary, with its state in $TMPDIR/dupfs-saio/<port>, emptied at each
// start. So test packages running in parallel (go test ./...), or two go test
// runs at once, never share or collide.
//
// Packages missing (see scripts/install-test-deps.sh): Start skips the test,
// unless DUPFS_REQUIRE_SWIFT is set, then it fails.
package saio

import (
	"bytes"
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ncw/swift/v2"
)

//go:embed saio.sh
var script []byte

// Credentials of the tempauth users the server has (auth v1).
const (
	User  = "test:tester" // account AUTH_test, .admin
	Key   = "testing"
	User2 = "test2:tester2" // account AUTH_test2, .admin
	Key2  = "testing2"
	// Account is the storage account of User: storage URLs end in /v1/AUTH_test.
	Account = "AUTH_test"
	// PCAPolicy is the name of storage policy 1, the one OVH PCA containers
	// report in X-Storage-Policy.
	PCAPolicy = "PCA"
	// RequireEnv, when set, turns a skip for missing Swift packages into a
	// failure (scripts/test.sh sets it).
	RequireEnv = "DUPFS_REQUIRE_SWIFT"
)

// FirstPort is the proxy port of the first slot; slot i uses
// FirstPort+10*i .. FirstPort+10*i+4.
const FirstPort = 18080

const (
	slotStep  = 10
	slotCount = 40
	// startTimeout bounds saio.sh start (it gives up itself after 30 s of
	// waiting for readiness; the rest is ring building under load).
	startTimeout = 2 * time.Minute
)

// Options select a server. The zero value is a fresh server on a free slot
// with Swift's default listing limit.
type Options struct {
	// ListingLimit is the page size of container and account listings
	// (0: Swift's 10000). 2 exercises marker paging with a few objects.
	// Servers with different limits are different servers.
	ListingLimit int
	// Dir and Port name an explicit server (default: SWIFT_SAIO_DIR and
	// SWIFT_SAIO_PORT). Set either and no slot is allocated: a server
	// already running there is reused (its listing limit must match) and
	// left running at the end; one that Start starts is stopped by Main.
	// Its data is kept. Two test binaries given the same explicit server
	// share it, so start it beforehand (saio.sh start) if they run at once.
	Dir  string
	Port int
}

// Server is a running Swift server.
type Server struct {
	AuthURL      string // http://127.0.0.1:PORT/auth/v1.0
	User, Key    string // User and Key
	URL          string // http://127.0.0.1:PORT
	Dir          string // state directory: etc/, log/, run/, srv/
	Port         int    // proxy port; PORT+1..PORT+4 are taken too
	ListingLimit int    // listing page size, as the server reports it

	started bool     // this binary started it, so Main stops it
	lock    *os.File // slot lock, held until Main
}

var (
	mu      sync.Mutex
	servers = map[string]*Server{} // by key(options)
)

// Start returns the server for opts, starting it if it is not running yet,
// and waits until auth and an account HEAD work. It skips t when the Swift
// packages are missing and DUPFS_REQUIRE_SWIFT is not set.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	if missing := Missing(); missing != "" {
		msg := "real Swift unavailable: missing " + missing + " (run scripts/install-test-deps.sh as root)"
		if os.Getenv(RequireEnv) != "" {
			t.Fatal(msg + "; " + RequireEnv + " is set")
		}
		t.Skip(msg)
	}
	if opts.Dir == "" {
		opts.Dir = os.Getenv("SWIFT_SAIO_DIR")
	}
	if opts.Port == 0 && os.Getenv("SWIFT_SAIO_PORT") != "" {
		p, err := strconv.Atoi(os.Getenv("SWIFT_SAIO_PORT"))
		if err != nil {
			t.Fatalf("SWIFT_SAIO_PORT: %v", err)
		}
		opts.Port = p
	}
	explicit := opts.Dir != "" || opts.Port != 0
	key := fmt.Sprintf("slot limit=%d", opts.ListingLimit)
	if explicit {
		if opts.Dir == "" {
			opts.Dir = "/tmp/swift-saio" // saio.sh's default
		}
		if opts.Port == 0 {
			opts.Port = FirstPort
		}
		opts.Dir, _ = filepath.Abs(opts.Dir)
		key = fmt.Sprintf("%s:%d", opts.Dir, opts.Port)
	}

	mu.Lock()
	defer mu.Unlock()
	if s := servers[key]; s != nil {
		if s.alive() {
			if explicit && opts.ListingLimit != 0 && opts.ListingLimit != s.ListingLimit {
				t.Fatalf("swift at %s has listing limit %d, want %d", s.URL, s.ListingLimit, opts.ListingLimit)
			}
			return s
		}
		// Killed under us: start it again in the same place.
		t.Logf("swift at %s is gone; starting it again", s.URL)
		if err := s.start(opts.ListingLimit, false); err != nil {
			t.Fatal(err)
		}
		return s
	}

	var s *Server
	var err error
	if explicit {
		s = newServer(opts.Dir, opts.Port)
		if !s.alive() {
			err = s.start(opts.ListingLimit, false)
		}
	} else {
		s, err = startInSlot(opts.ListingLimit)
	}
	if err == nil {
		err = s.readInfo()
	}
	if err != nil {
		if s != nil {
			s.stop()
		}
		t.Fatal(err)
	}
	if opts.ListingLimit != 0 && opts.ListingLimit != s.ListingLimit {
		s.stop()
		t.Fatalf("swift at %s has listing limit %d, want %d (an explicit server already running with other settings?)",
			s.URL, s.ListingLimit, opts.ListingLimit)
	}
	servers[key] = s
	return s
}

// Main runs the tests, stops every server this binary started, and exits
// with the tests' status. Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	StopAll()
	os.Exit(code)
}

// StopAll stops every server this binary started and releases their slots.
// Main calls it; a TestMain that needs more around m.Run can call it itself.
func StopAll() {
	mu.Lock()
	defer mu.Unlock()
	for k, s := range servers {
		s.stop()
		delete(servers, k)
	}
}

// Missing names what the server needs and this machine lacks ("" if none).
func Missing() string {
	var missing []string
	for _, f := range []string{"/usr/bin/python3", "/usr/lib/python3/dist-packages/swift/proxy/server.py",
		"/usr/lib/python3/dist-packages/swift/obj/server.py", "/usr/lib/python3/dist-packages/swift/container/server.py",
		"/usr/lib/python3/dist-packages/swift/account/server.py"} {
		if _, err := os.Stat(f); err != nil {
			missing = append(missing, f)
		}
	}
	for _, tool := range []string{"memcached", "curl", "bash", "setsid"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	return strings.Join(missing, ", ")
}

func newServer(dir string, port int) *Server {
	u := fmt.Sprintf("http://127.0.0.1:%d", port)
	return &Server{AuthURL: u + "/auth/v1.0", User: User, Key: Key, URL: u, Dir: dir, Port: port}
}

// startInSlot takes the first slot whose lock and ports are free and starts
// a fresh server there.
func startInSlot(limit int) (*Server, error) {
	root := filepath.Join(os.TempDir(), "dupfs-saio")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, err
	}
	var lastErr error
	for i := 0; i < slotCount; i++ {
		port := FirstPort + slotStep*i
		lock, err := lockSlot(filepath.Join(root, fmt.Sprintf("%d.lock", port)))
		if err != nil {
			lastErr = err
			continue
		}
		s := newServer(filepath.Join(root, strconv.Itoa(port)), port)
		s.lock = lock
		// A server left in this slot by a dead binary: ours to stop.
		if _, err := s.run("stop", 0, false); err != nil {
			lastErr = err
		}
		if busy := busyPorts(port); busy != "" {
			lastErr = fmt.Errorf("port %s in use", busy)
			lock.Close()
			continue
		}
		if err := s.start(limit, true); err != nil {
			s.stop()
			return nil, err
		}
		return s, nil
	}
	return nil, fmt.Errorf("no free swift slot among ports %d..%d: %v", FirstPort, FirstPort+slotStep*(slotCount-1), lastErr)
}

// lockSlot takes an exclusive lock on path without waiting. The descriptor
// is close-on-exec, so the servers never hold it.
func lockSlot(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

func busyPorts(port int) string {
	var busy []string
	for p := port; p < port+5; p++ {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			busy = append(busy, strconv.Itoa(p))
			continue
		}
		l.Close()
	}
	return strings.Join(busy, ",")
}

func (s *Server) start(limit int, fresh bool) error {
	if _, err := s.run("start", limit, fresh); err != nil {
		return err
	}
	s.started = true
	return nil
}

func (s *Server) stop() {
	if s.started {
		if out, err := s.run("stop", 0, false); err != nil {
			fmt.Fprintf(os.Stderr, "saio: stopping swift at %s: %v\n%s", s.URL, err, out)
		}
		s.started = false
	}
	if s.lock != nil {
		s.lock.Close()
		s.lock = nil
	}
}

func (s *Server) alive() bool {
	_, err := s.run("status", 0, false)
	return err == nil
}

// run runs the embedded saio.sh (written into the state dir) with cmd.
func (s *Server) run(cmd string, limit int, fresh bool) ([]byte, error) {
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(s.Dir, "saio.sh")
	if old, err := os.ReadFile(path); err != nil || !bytes.Equal(old, script) {
		tmp := path + ".tmp" + strconv.Itoa(os.Getpid())
		if err := os.WriteFile(tmp, script, 0o755); err != nil {
			return nil, err
		}
		if err := os.Rename(tmp, path); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	c := exec.CommandContext(ctx, "bash", path, cmd)
	env := append(os.Environ(), "SWIFT_SAIO_DIR="+s.Dir, "SWIFT_SAIO_PORT="+strconv.Itoa(s.Port),
		"SWIFT_SAIO_OWNER_PID="+strconv.Itoa(os.Getpid()), "SWIFT_SAIO_FRESH=", "SWIFT_SAIO_LISTING_LIMIT=")
	if limit != 0 {
		env = append(env, "SWIFT_SAIO_LISTING_LIMIT="+strconv.Itoa(limit))
	}
	if fresh {
		env = append(env, "SWIFT_SAIO_FRESH=1")
	}
	c.Env = env
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	c.WaitDelay = 5 * time.Second
	err := c.Run()
	if err != nil && cmd != "status" {
		err = fmt.Errorf("saio.sh %s (SWIFT_SAIO_DIR=%s SWIFT_SAIO_PORT=%d): %v\n%s\nlog: %s",
			cmd, s.Dir, s.Port, err, out.Bytes(), s.LogPath())
	}
	return out.Bytes(), err
}

// readInfo reads the listing limit from the server's /info.
func (s *Server) readInfo() error {
	resp, err := http.Get(s.URL + "/info")
	if err != nil {
		return fmt.Errorf("swift /info: %w", err)
	}
	defer resp.Body.Close()
	var info struct {
		Swift struct {
			ContainerListingLimit int `json:"container_listing_limit"`
		} `json:"swift"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		return fmt.Errorf("swift /info: %w", err)
	}
	s.ListingLimit = info.Swift.ContainerListingLimit
	return nil
}

// LogPath is the server's log: every request (proxy access log) and error.
func (s *Server) LogPath() string { return filepath.Join(s.Dir, "log", "swift.log") }

// Env is the environment for duplicity's swift:// backend and the swift
// client: SWIFT_AUTHURL, SWIFT_USERNAME, SWIFT_PASSWORD, SWIFT_AUTHVERSION=1,
// and ST_AUTH, ST_USER, ST_KEY (without those, duplicity's SwiftService
// calls fall back to keystone v2 even with SWIFT_AUTHVERSION=1).
func (s *Server) Env() []string {
	return swiftEnv(s.AuthURL, s.User, s.Key)
}

func swiftEnv(authURL, user, key string) []string {
	return []string{
		"SWIFT_AUTHURL=" + authURL, "SWIFT_USERNAME=" + user, "SWIFT_PASSWORD=" + key, "SWIFT_AUTHVERSION=1",
		"ST_AUTH=" + authURL, "ST_USER=" + user, "ST_KEY=" + key,
	}
}

// Conn returns an authenticated connection to the server as User.
func (s *Server) Conn(t testing.TB) *swift.Connection {
	t.Helper()
	return Connect(t, s.AuthURL, s.User, s.Key)
}

// Connect returns a connection authenticated with auth v1 at authURL.
func Connect(t testing.TB, authURL, user, key string) *swift.Connection {
	t.Helper()
	c := &swift.Connection{UserName: user, ApiKey: key, AuthUrl: authURL, AuthVersion: 1,
		ConnectTimeout: 10 * time.Second, Timeout: 60 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.Authenticate(ctx); err != nil {
		t.Fatalf("swift auth at %s as %s: %v", authURL, user, err)
	}
	return c
}

// SealProxy starts a sealing proxy (OVH PCA behaviour) in front of the
// server with the given unseal delay; it is closed when t ends.
func (s *Server) SealProxy(t testing.TB, delay time.Duration) *SealProxy {
	t.Helper()
	p := NewSealProxy(s.URL, delay)
	p.User, p.Key = s.User, s.Key
	t.Cleanup(p.Close)
	return p
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// ContainerName returns a container name unique to t and to this run: the
// test's name made safe, and a random suffix.
func ContainerName(t testing.TB) string {
	name := strings.Trim(unsafeName.ReplaceAllString(t.Name(), "-"), "-.")
	if len(name) > 200 {
		name = name[:200]
	}
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%s-%x", name, b)
}
