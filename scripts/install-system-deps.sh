#!/usr/bin/env bash
# Installs the Debian packages the build and the tests need. Idempotent: packages already
# present are left alone, and apt is only asked when something is missing.
set -euo pipefail

packages=(
  pkg-config cmake clang libclang-dev   # build tools for -sys crates
  libcharls-dev                         # JPEG-LS decoder used by dicom-pixeldata (charls)
  dcmtk                                 # storescu, storescp, dcmdump: real DICOM peers for tests
  dicom3tools                           # dciodvfy: validates the DICOM files we write
  libgdcm-tools                         # gdcmconv: JPEG 2000 encoder and an independent decoder for tests
  dcm2niix                              # reference DICOM -> NIfTI converter for geometry tests
  orthanc curl                          # Orthanc peer and its REST API for the DICOM node tests
  chromium chromium-driver              # headless browser (WebDriver) for the admin page tests
  python3-venv
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "installing: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
