package timespec

import (
	"encoding/json"
	"math/rand"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// oracleScript evaluates duplicity's genstrtotime on a JSON list of strings
// with the current time fixed, printing a JSON list of results (null for
// rejected strings).
const oracleScript = `
import sys, json
sys.path.insert(0, "/usr/lib/python3/dist-packages")
import gettext; gettext.install("x")
from duplicity import dup_time
dup_time.setcurtime(int(sys.argv[1]))
out = []
for s in json.load(sys.stdin):
    try:
        v = dup_time.genstrtotime(s)
        out.append(v if abs(v) < 2**62 else None)
    except Exception:
        out.append(None)
print(json.dumps(out))
`

// TestAgainstDuplicity compares Parse with the installed duplicity on
// mutations of the table inputs. It is skipped where duplicity is absent.
func TestAgainstDuplicity(t *testing.T) {
	if _, err := os.Stat("/usr/lib/python3/dist-packages/duplicity/dup_time.py"); err != nil {
		t.Skip("duplicity not installed")
	}
	rng := rand.New(rand.NewSource(1))
	alphabet := []string{"0", "1", "2", "9", "T", "Z", "-", "/", ":", "+", "s", "m", "h", "D", "W", "M", "Y", " ", "_", "\n", "x", "é"}
	var inputs []string
	for _, c := range cases {
		inputs = append(inputs, c.in)
		for i := 0; i < 20; i++ {
			r := []rune(c.in)
			switch k := rng.Intn(3); {
			case k == 0 && len(r) > 0:
				r = append(r[:rng.Intn(len(r))], r[rng.Intn(len(r)):]...)
			case k == 1:
				p := rng.Intn(len(r) + 1)
				r = append(r[:p], append([]rune(alphabet[rng.Intn(len(alphabet))]), r[p:]...)...)
			case len(r) > 0:
				r[rng.Intn(len(r))] = []rune(alphabet[rng.Intn(len(alphabet))])[0]
			}
			inputs = append(inputs, string(r))
		}
	}
	for _, tz := range []string{"UTC", "Asia/Kolkata", "America/St_Johns"} {
		in, _ := json.Marshal(inputs)
		cmd := exec.Command("python3", "-c", oracleScript, "1795353032")
		cmd.Env = append(os.Environ(), "TZ="+tz)
		cmd.Stdin = strings.NewReader(string(in))
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("python: %v", err)
		}
		var want []*int64
		if err := json.Unmarshal(out, &want); err != nil {
			t.Fatal(err)
		}
		loc, err := time.LoadLocation(tz)
		if err != nil {
			t.Fatal(err)
		}
		for i, s := range inputs {
			got, err := Parse(s, now, loc)
			switch {
			case want[i] == nil && err == nil:
				t.Errorf("%s: Parse(%q) = %d, duplicity rejects it", tz, s, got.Unix())
			case want[i] != nil && err != nil:
				t.Errorf("%s: Parse(%q): %v, duplicity gives %d", tz, s, err, *want[i])
			case want[i] != nil && got.Unix() != *want[i]:
				t.Errorf("%s: Parse(%q) = %d, duplicity gives %d", tz, s, got.Unix(), *want[i])
			}
		}
	}
}
