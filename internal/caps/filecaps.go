package caps

import "encoding/binary"

// Capability numbers (linux/capability.h) of the two egressgw may need.
const (
	NetBindService = 10 // ports below 1024: DNS on 53, ingress on 80/443
	NetAdmin       = 12 // --egress-interface
)

// FileCapability is the value of a file's security.capability extended
// attribute (struct vfs_cap_data, revision 2) that permits the given
// capabilities, with the effective bit clear: the program raises them
// itself (RaiseEffective). The image builder writes it into the layer.
func FileCapability(capabilities ...int) []byte {
	var permitted uint64
	for _, c := range capabilities {
		permitted |= 1 << c
	}
	const vfsCapRevision2 = 0x02000000
	b := make([]byte, 0, 20)
	b = binary.LittleEndian.AppendUint32(b, vfsCapRevision2) // no VFS_CAP_FLAGS_EFFECTIVE
	b = binary.LittleEndian.AppendUint32(b, uint32(permitted))
	b = binary.LittleEndian.AppendUint32(b, 0) // inheritable
	b = binary.LittleEndian.AppendUint32(b, uint32(permitted>>32))
	return binary.LittleEndian.AppendUint32(b, 0)
}
