module github.com/ringtail/ringtail/benchmarks

go 1.26.8
