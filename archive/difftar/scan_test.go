package difftar

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"dupfs/archive/tarstream"
)

// TestScanOffsets writes members, scans them, and reads each one back from
// its offsets alone, also by starting a Reader at its header.
func TestScanOffsets(t *testing.T) {
	var buf bytes.Buffer
	tw := tarstream.NewWriter(&buf)
	long := strings.Repeat("d/", 80) + "file" // needs a long-name extension
	members := []struct {
		name string
		data string
	}{
		{"snapshot/", ""},
		{"snapshot/a", "alpha"},
		{"diff/b", strings.Repeat("x", 1000)},
		{"deleted/c", ""},
		{"multivol_snapshot/" + long + "/1", "chunk one"},
		{"multivol_snapshot/" + long + "/2", "chunk two"},
	}
	for _, m := range members {
		typ := byte(tarstream.TypeReg)
		if strings.HasSuffix(m.name, "/") {
			typ = tarstream.TypeDir
		}
		if err := tw.WriteHeader(&tarstream.Header{Name: m.name, Typeflag: typ, Mode: 0644, Size: int64(len(m.data))}); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, m.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	vol := bytes.NewReader(buf.Bytes())
	got, err := Scan(vol, vol.Size())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(members) {
		t.Fatalf("scanned %d members, want %d", len(got), len(members))
	}
	wantIdx := []string{"", "a", "b", "c", long, long}
	for i, m := range got {
		if m.Index != wantIdx[i] {
			t.Errorf("member %d index %q, want %q", i, m.Index, wantIdx[i])
		}
		data := make([]byte, m.Size)
		if _, err := vol.ReadAt(data, m.Data); err != nil {
			t.Fatal(err)
		}
		if string(data) != members[i].data {
			t.Errorf("member %d data %q, want %q", i, data, members[i].data)
		}
		sec, err := SectionFrom(vol, m.Header, vol.Size())
		if err != nil {
			t.Fatal(err)
		}
		r := NewSingleReader(sec)
		e, err := r.Next()
		if err != nil {
			t.Fatalf("member %d from its header: %v", i, err)
		}
		if e.Index != m.Index || e.Kind != m.Kind {
			t.Errorf("member %d from its header: %+v", i, e)
		}
	}
	if !got[4].Multivol || got[1].Multivol {
		t.Errorf("multivol flags wrong: %+v", got)
	}
	if _, err := SectionFrom(vol, vol.Size()+1, vol.Size()); err == nil {
		t.Error("offset past the end accepted")
	}
}
