package gokastats

// NewCollector is newCollector for the external tests (package
// gokastats_test, which imports lookups, which imports gokastats).
var NewCollector = newCollector
