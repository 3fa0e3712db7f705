package caps

import (
	"bytes"
	"testing"
)

// TestFileCapability: the xattr is struct vfs_cap_data revision 2, little
// endian, with the permitted bits and no effective flag. (That the kernel
// grants it is TestImageRuns' and TestNonRootFileCapabilities' to show.)
func TestFileCapability(t *testing.T) {
	tests := []struct {
		name string
		caps []int
		want []byte
	}{
		{"NET_BIND_SERVICE", []int{NetBindService}, []byte{0, 0, 0, 2, 0x00, 0x04, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
		{"NET_BIND_SERVICE and NET_ADMIN", []int{NetBindService, NetAdmin}, []byte{0, 0, 0, 2, 0x00, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
		{"a capability above 31 (CAP_BPF, 39)", []int{39}, []byte{0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0, 0, 0, 0, 0, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := FileCapability(tt.caps...); !bytes.Equal(got, tt.want) {
				t.Errorf("FileCapability(%v) = % x, want % x", tt.caps, got, tt.want)
			}
		})
	}
}
