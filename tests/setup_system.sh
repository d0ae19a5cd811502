#!/usr/bin/env bash
# System tools the tests compare against: R's reference statistics and dcm2niix (Debian packages).
# Under CI=true they are required; elsewhere the tests that need them skip with a message.
set -u
pkgs="r-base-core r-cran-proc r-bioc-sva r-cran-psych r-cran-glmnet dcm2niix"
have() {
  command -v Rscript >/dev/null && command -v dcm2niix >/dev/null &&
    Rscript -e 'for (p in c("pROC","sva","psych","glmnet")) suppressMessages(library(p, character.only=TRUE))' >/dev/null 2>&1
}
have && { echo "system-deps: R oracles and dcm2niix present"; exit 0; }
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "system-deps: installing $pkgs"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q -o DPkg::Lock::Timeout=900 $pkgs >/tmp/vfrepro-apt.log 2>&1 ||
    { apt-get update -q >>/tmp/vfrepro-apt.log 2>&1 &&
      apt-get install -y -q -o DPkg::Lock::Timeout=900 $pkgs >>/tmp/vfrepro-apt.log 2>&1; }
fi
have && { echo "system-deps: installed"; exit 0; }
if [ "${CI:-}" = "true" ]; then
  echo "system-deps: R oracles / dcm2niix missing and could not be installed (see /tmp/vfrepro-apt.log)" >&2
  exit 1
fi
echo "system-deps: R oracles / dcm2niix missing: the tests that need them will skip" >&2
exit 0
