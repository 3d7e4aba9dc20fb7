package db_test

import (
	"fmt"
	"testing"

	"github.com/kraite/stream/internal/db"
)

func TestChunks(t *testing.T) {
	tests := []struct {
		name   string
		n, max int
		want   []int
	}{
		{"nothing gives no statement", 0, 500, nil},
		{"a full tick is full chunks then powers of two", 2272, 500, []int{500, 500, 500, 500, 256, 16}},
		{"a remainder splits into its binary digits", 347, 500, []int{256, 64, 16, 8, 2, 1}},
		{"an exact multiple has no remainder", 1024, 256, []int{256, 256, 256, 256}},
		{"one row is one statement", 1, 500, []int{1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := db.Chunks(tt.n, tt.max)
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("Chunks(%d, %d) = %v, want %v", tt.n, tt.max, got, tt.want)
			}
			sum := 0
			for _, c := range got {
				sum += c
			}
			if sum != tt.n {
				t.Fatalf("sizes add up to %d, want %d", sum, tt.n)
			}
		})
	}
}

func TestBatches(t *testing.T) {
	items := make([]int, 1234)
	for i := range items {
		items[i] = i
	}
	t.Run("padding repeats the last item up to a multiple of the step", func(t *testing.T) {
		got := db.Batches(items, 500, 32, true)
		if len(got) != 3 || len(got[0]) != 500 || len(got[1]) != 500 || len(got[2]) != 256 {
			t.Fatalf("sizes %d %d %d", len(got), len(got[0]), len(got[len(got)-1]))
		}
		last := got[2]
		if last[0] != 1000 || last[233] != 1233 || last[255] != 1233 {
			t.Fatalf("last part = %v...%v", last[:2], last[230:])
		}
		if items[1233] != 1233 {
			t.Fatal("the input was modified")
		}
	})
	t.Run("without padding every item appears once", func(t *testing.T) {
		seen := 0
		for _, p := range db.Batches(items, 500, 32, false) {
			for _, v := range p {
				if v != seen {
					t.Fatalf("item %d out of order (want %d)", v, seen)
				}
				seen++
			}
		}
		if seen != len(items) {
			t.Fatalf("%d items, want %d", seen, len(items))
		}
	})
	t.Run("SmallBatches pads a part shorter than the step to a power of two", func(t *testing.T) {
		for n, want := range map[int]int{1: 1, 2: 2, 3: 4, 5: 8, 16: 16, 17: 32, 31: 32, 32: 32, 33: 64} {
			got := db.SmallBatches(items[:n], 500, 32)
			if len(got) != 1 || len(got[0]) != want || got[0][want-1] != n-1 || got[0][n-1] != n-1 {
				t.Errorf("%d items: parts %v, want one of %d ending in item %d", n, got, want, n-1)
			}
		}
		got := db.SmallBatches(items, 500, 32)
		if len(got) != 3 || len(got[0]) != 500 || len(got[1]) != 500 || len(got[2]) != 256 || got[2][255] != 1233 {
			t.Errorf("1234 items: %d parts, the last of %d", len(got), len(got[len(got)-1]))
		}
		if got := db.PadSize(3, 2, 32); got != 2 {
			t.Errorf("PadSize(3, max 2) = %d", got)
		}
	})
	t.Run("SmallBatches takes none, one, many and just past each power of two", func(t *testing.T) {
		if got := db.SmallBatches(items[:0], 512, 8); len(got) != 0 {
			t.Errorf("no items: %d parts", len(got))
		}
		huge := make([]int, 100_003)
		for i := range huge {
			huge[i] = i
		}
		sizes := map[int]bool{}
		for _, n := range []int{1, 2, 3, 5, 9, 17, 33, 65, 129, 257, 511, 512, 513, 1025, len(huge)} {
			parts := db.SmallBatches(huge[:n], 512, 8)
			seen := 0
			for i, p := range parts {
				sizes[len(p)] = true
				if len(p) > 512 || (i < len(parts)-1 && len(p) != 512) {
					t.Fatalf("%d items: part %d of %d rows", n, i, len(p))
				}
				for j, v := range p {
					switch {
					case v == seen:
						seen++
					case v != seen-1 || i != len(parts)-1 || j == 0: // padding: the last item again, in the last part only
						t.Fatalf("%d items: part %d row %d is item %d (next is %d)", n, i, j, v, seen)
					}
				}
			}
			if seen != n {
				t.Fatalf("%d items: %d written", n, seen)
			}
		}
		// Every size UpsertChunked can send: the shapes its doc promises,
		// far below the statement cache's bound.
		for n := 1; n <= 3*db.InsertChunk; n++ {
			for _, p := range db.SmallBatches(huge[:n], db.InsertChunk, db.InsertPadStep) {
				sizes[len(p)] = true
			}
		}
		if want := db.InsertChunk/db.InsertPadStep + 3; len(sizes) != want || want > db.MaxCachedStmts/2 {
			t.Errorf("%d statement sizes, want %d (cache bound %d)", len(sizes), want, db.MaxCachedStmts)
		}
	})
	t.Run("padding never exceeds max", func(t *testing.T) {
		got := db.Batches(items[:499], 500, 32, true)
		if len(got) != 1 || len(got[0]) != 500 {
			t.Fatalf("got %d parts of %d", len(got), len(got[0]))
		}
	})
}
