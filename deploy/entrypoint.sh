#!/bin/sh
# The image's entrypoint: the first argument names the component.
set -e
case "$1" in
  controller) shift; exec node /opt/ambient/apps/controller/dist/main.js "$@" ;;
  ztunnel) shift; exec node /opt/ambient/apps/ztunnel/dist/main.js "$@" ;;
  waypoint) shift; exec node /opt/ambient/apps/waypoint/dist/main.js "$@" ;;
  *) echo "usage: ambient controller|ztunnel|waypoint" >&2; exit 2 ;;
esac
