package limit

import (
	"errors"
	"io"
	"strings"
	"testing"
)

func TestReader(t *testing.T) {
	errFull := errors.New("full")
	for _, tt := range []struct {
		name    string
		in      string
		n       int64
		want    string
		wantErr error
	}{
		{"under the budget", "abc", 10, "abc", nil},
		{"exactly the budget", "abc", 3, "abc", errFull},
		{"over the budget", "abcdef", 4, "abcd", errFull},
		{"no budget", "abc", 0, "", errFull},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l := &Reader{R: strings.NewReader(tt.in), N: tt.n, Err: errFull}
			got, err := io.ReadAll(l)
			if string(got) != tt.want || !errors.Is(err, tt.wantErr) {
				t.Errorf("read %q, %v; want %q, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}
