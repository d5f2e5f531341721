// Package composetest checks the files that deploy exactsync with Docker Compose
// (docker-compose.yml and the Dockerfile at the module root) and the README's Docker
// Compose commands against each other, without Docker: the machines that run the tests
// have none.
//
// It holds no code, only tests. They parse docker-compose.yml as Compose would
// (anchors, merge keys, ${VAR:-default} with an empty environment) and check, for the
// default profile and for each named one: that every service a service refers to
// (depends_on, network_mode service:, volumes_from, extends) is active with it; that no
// published port can clash with a local PostgreSQL or is reachable from other
// machines; that PostgreSQL and the scheduler have healthchecks, with tools the image
// has; that the scheduler depends on nothing of the demo; that the demo's importer
// keeps a connection that exists; and that each `docker compose` command of README.md
// names profiles and services that exist, with auth login's callback port published by
// the service it runs. `docker-compose config` (.ci/run, where it is installed) checks
// the file against Compose's schema.
package composetest
