#!/bin/sh
# The image's entrypoint: the first argument names the component.
set -e
case "$1" in
  controller) shift; exec node /opt/ambient/apps/controller/dist/main.js "$@" ;;
  # apps/ztunnel/node-options: V8 settings the ztunnel is measured with (see that app's README).
  ztunnel) shift; exec node $(cat /opt/ambient/apps/ztunnel/node-options) /opt/ambient/apps/ztunnel/dist/main.js "$@" ;;
  waypoint) shift; exec node /opt/ambient/apps/waypoint/dist/main.js "$@" ;;
  *) echo "usage: ambient controller|ztunnel|waypoint" >&2; exit 2 ;;
esac
