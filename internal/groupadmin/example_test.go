package groupadmin_test

import (
	"fmt"

	"github.com/kraite/stream/internal/groupadmin"
)

func ExampleParsePosition() {
	for _, s := range []string{"earliest", "12345", "2026-11-22T11:00:00+01:00", "yesterday"} {
		p, err := groupadmin.ParsePosition(s)
		fmt.Println(p, err)
	}
	// Output:
	// earliest <nil>
	// 12345 <nil>
	// 2026-11-22T10:00:00Z <nil>
	// earliest bad position: "yesterday" is not earliest, latest, an offset, an RFC 3339 time or -DURATION
}

func ExampleRenderProgress() {
	fmt.Println(groupadmin.RenderProgress("kraite.sink.orders", groupadmin.ProgressState{Done: 750, Total: 1000, Behind: 2}, 20))
	// Output:
	// [###############-----]  75.0%  750/1000 records  2 partitions behind  group kraite.sink.orders
}
