// Package hack holds the tests of the project's scripts and Makefile checks:
// the tools CI and developers run before any Go code does.
package hack
