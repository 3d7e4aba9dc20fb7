//go:build race

package main

// raceOn: the test binary runs with the race detector (5-10x slower).
const raceOn = true
