//! NRRD read: 3D images with attached data in raw or gzip encoding, geometry from
//! `space`, `space directions` and `space origin` (or bare `spacings`), converted to LPS.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;
use ndarray::Array3;
use thiserror::Error;

use crate::geometry::{normalize, Dims, Geometry};
use crate::volume::Volume;

#[derive(Debug, Error)]
pub enum NrrdError {
    #[error("{path}: cannot read NRRD: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("{path}: unsupported NRRD: {reason}")]
    Unsupported { path: PathBuf, reason: String },
    #[error("{path}: bad NRRD field {field}: {reason}")]
    BadField {
        path: PathBuf,
        field: String,
        reason: String,
    },
}

/// Reads a 3D NRRD image as f32 values.
pub fn read_nrrd(path: &Path) -> Result<Volume<f32>, NrrdError> {
    let file = std::fs::File::open(path).map_err(|e| NrrdError::Read {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    let mut reader = BufReader::new(file);
    let header = Header::read(path, &mut reader)?;
    let sample = header.sample_type()?;
    let dims = header.dims()?;
    let geometry = header.geometry()?;
    let mut bytes = Vec::with_capacity(dims.len() * sample.size);
    let read_err = |e: std::io::Error| NrrdError::Read {
        path: path.to_owned(),
        reason: e.to_string(),
    };
    match header.get("encoding").unwrap_or("raw") {
        "raw" => reader.read_to_end(&mut bytes).map_err(read_err)?,
        "gzip" | "gz" => GzDecoder::new(reader)
            .read_to_end(&mut bytes)
            .map_err(read_err)?,
        other => return Err(header.unsupported(format!("encoding {other}"))),
    };
    let needed = dims.len() * sample.size;
    if bytes.len() < needed {
        return Err(header.unsupported(format!("{} data bytes for {needed} expected", bytes.len())));
    }
    // Raw data may be preceded by bytes to skip only when 'byte skip' says so; we read
    // attached data right after the header, so take the last `needed` bytes for byte skip -1.
    let start = match header.get("byte skip") {
        Some("-1") => bytes.len() - needed,
        Some(s) => s
            .parse::<usize>()
            .map_err(|e| header.bad("byte skip", e.to_string()))?,
        None => 0,
    };
    let big_endian = header.get("endian") == Some("big");
    let values: Vec<f32> = bytes[start..start + needed]
        .chunks_exact(sample.size)
        .map(|b| sample.decode(b, big_endian))
        .collect();
    let data =
        Array3::from_shape_vec(dims.shape(), values).expect("value count matches the dimensions");
    Ok(Volume::new(data, geometry))
}

struct Header {
    path: PathBuf,
    fields: Vec<(String, String)>,
}

impl Header {
    fn read(path: &Path, reader: &mut impl BufRead) -> Result<Self, NrrdError> {
        let mut header = Header {
            path: path.to_owned(),
            fields: Vec::new(),
        };
        let mut line = String::new();
        let mut read_line = |line: &mut String| -> Result<usize, NrrdError> {
            line.clear();
            reader.read_line(line).map_err(|e| NrrdError::Read {
                path: path.to_owned(),
                reason: e.to_string(),
            })
        };
        read_line(&mut line)?;
        if !line.starts_with("NRRD000") {
            return Err(header.unsupported("no NRRD magic line".into()));
        }
        loop {
            if read_line(&mut line)? == 0 {
                break;
            }
            let l = line.trim_end_matches(['\n', '\r']);
            if l.is_empty() {
                break;
            }
            if l.starts_with('#') {
                continue;
            }
            // Key/value pairs (`key:=value`) are free-form metadata we do not need.
            if let Some((key, value)) = l.split_once(": ") {
                header
                    .fields
                    .push((key.trim().to_ascii_lowercase(), value.trim().to_owned()));
            }
        }
        if header.get("data file").or(header.get("datafile")).is_some() {
            return Err(header.unsupported("detached data files".into()));
        }
        Ok(header)
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn bad(&self, field: &str, reason: String) -> NrrdError {
        NrrdError::BadField {
            path: self.path.clone(),
            field: field.to_owned(),
            reason,
        }
    }

    fn unsupported(&self, reason: String) -> NrrdError {
        NrrdError::Unsupported {
            path: self.path.clone(),
            reason,
        }
    }

    fn dims(&self) -> Result<Dims, NrrdError> {
        let dimension = self.get("dimension").unwrap_or("");
        if dimension != "3" {
            return Err(self.unsupported(format!("dimension {dimension:?} (only 3 is read)")));
        }
        let sizes: Vec<usize> = self
            .get("sizes")
            .ok_or_else(|| self.bad("sizes", "absent".into()))?
            .split_whitespace()
            .map(|s| s.parse().map_err(|_| self.bad("sizes", s.into())))
            .collect::<Result<_, _>>()?;
        match sizes.as_slice() {
            &[i, j, k] => Ok(Dims::new(i, j, k)),
            _ => Err(self.bad("sizes", format!("{sizes:?}"))),
        }
    }

    fn sample_type(&self) -> Result<SampleType, NrrdError> {
        let t = self
            .get("type")
            .ok_or_else(|| self.bad("type", "absent".into()))?;
        let kind = match t {
            "signed char" | "int8" | "int8_t" => SampleKind::I8,
            "uchar" | "unsigned char" | "uint8" | "uint8_t" => SampleKind::U8,
            "short" | "short int" | "signed short" | "signed short int" | "int16" | "int16_t" => {
                SampleKind::I16
            }
            "ushort" | "unsigned short" | "unsigned short int" | "uint16" | "uint16_t" => {
                SampleKind::U16
            }
            "int" | "signed int" | "int32" | "int32_t" => SampleKind::I32,
            "uint" | "unsigned int" | "uint32" | "uint32_t" => SampleKind::U32,
            "float" => SampleKind::F32,
            "double" => SampleKind::F64,
            other => return Err(self.unsupported(format!("type {other}"))),
        };
        Ok(SampleType {
            kind,
            size: kind.size(),
        })
    }

    fn geometry(&self) -> Result<Geometry, NrrdError> {
        // Sign flips from the file's space to LPS.
        let to_lps = match self.get("space").map(str::to_ascii_lowercase).as_deref() {
            None | Some("left-posterior-superior") | Some("lps") => [1.0, 1.0, 1.0],
            Some("right-anterior-superior") | Some("ras") => [-1.0, -1.0, 1.0],
            Some("left-anterior-superior") | Some("las") => [1.0, -1.0, 1.0],
            Some(other) => return Err(self.unsupported(format!("space {other}"))),
        };
        let origin = match self.get("space origin") {
            Some(s) => {
                let v = parse_vector(s).ok_or_else(|| self.bad("space origin", s.into()))?;
                [0, 1, 2].map(|r| v[r] * to_lps[r])
            }
            None => [0.0; 3],
        };
        let mut geometry = Geometry::axial(origin, [1.0; 3]);
        if let Some(s) = self.get("space directions") {
            let vectors: Vec<&str> = s.split_whitespace().collect();
            if vectors.len() != 3 {
                return Err(self.bad("space directions", s.into()));
            }
            for (a, v) in vectors.iter().enumerate() {
                let v = parse_vector(v).ok_or_else(|| self.bad("space directions", s.into()))?;
                let lps = [0, 1, 2].map(|r| v[r] * to_lps[r]);
                let len = (lps[0] * lps[0] + lps[1] * lps[1] + lps[2] * lps[2]).sqrt();
                if len == 0.0 {
                    return Err(self.bad("space directions", "zero vector".into()));
                }
                geometry.spacing[a] = len;
                geometry.direction[a] = normalize(lps);
            }
        } else if let Some(s) = self.get("spacings") {
            for (a, v) in s.split_whitespace().take(3).enumerate() {
                geometry.spacing[a] = v
                    .parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite() && *x > 0.0)
                    .unwrap_or(1.0);
            }
        }
        Ok(geometry)
    }
}

/// Parses `(x,y,z)`.
fn parse_vector(s: &str) -> Option<[f64; 3]> {
    let inner = s.trim().strip_prefix('(')?.strip_suffix(')')?;
    let v: Vec<f64> = inner
        .split(',')
        .map(|x| x.trim().parse().ok())
        .collect::<Option<_>>()?;
    (v.len() == 3 && v.iter().all(|x| x.is_finite())).then(|| [v[0], v[1], v[2]])
}

#[derive(Clone, Copy)]
enum SampleKind {
    I8,
    U8,
    I16,
    U16,
    I32,
    U32,
    F32,
    F64,
}

impl SampleKind {
    fn size(self) -> usize {
        match self {
            SampleKind::I8 | SampleKind::U8 => 1,
            SampleKind::I16 | SampleKind::U16 => 2,
            SampleKind::I32 | SampleKind::U32 | SampleKind::F32 => 4,
            SampleKind::F64 => 8,
        }
    }
}

struct SampleType {
    kind: SampleKind,
    size: usize,
}

impl SampleType {
    fn decode(&self, b: &[u8], big_endian: bool) -> f32 {
        let mut buf = [0u8; 8];
        buf[..b.len()].copy_from_slice(b);
        if big_endian {
            buf[..b.len()].reverse();
        }
        match self.kind {
            SampleKind::I8 => buf[0] as i8 as f32,
            SampleKind::U8 => buf[0] as f32,
            SampleKind::I16 => i16::from_le_bytes([buf[0], buf[1]]) as f32,
            SampleKind::U16 => u16::from_le_bytes([buf[0], buf[1]]) as f32,
            SampleKind::I32 => i32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as f32,
            SampleKind::U32 => u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as f32,
            SampleKind::F32 => f32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]),
            SampleKind::F64 => f64::from_le_bytes(buf) as f32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write(dir: &Path, name: &str, header: &str, data: &[u8], gzip: bool) -> PathBuf {
        let path = dir.join(name);
        let mut f = std::fs::File::create(&path).unwrap();
        f.write_all(header.as_bytes()).unwrap();
        if gzip {
            let mut enc = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
            enc.write_all(data).unwrap();
            enc.finish().unwrap();
        } else {
            f.write_all(data).unwrap();
        }
        path
    }

    fn values() -> Vec<u8> {
        (0..24i16)
            .flat_map(|v| (v * 10 - 100).to_le_bytes())
            .collect()
    }

    #[test]
    fn raw_and_gzip_encodings_give_the_same_volume() {
        let dir = tempfile::tempdir().unwrap();
        let head = |enc: &str| {
            format!(
                "NRRD0004\n# comment\ntype: short\ndimension: 3\nspace: left-posterior-superior\n\
                 sizes: 4 3 2\nspace directions: (0.5,0,0) (0,0.5,0) (0,0,2)\nkinds: domain domain domain\n\
                 endian: little\nencoding: {enc}\nspace origin: (-10,20,30.5)\n\n"
            )
        };
        let raw = read_nrrd(&write(dir.path(), "r.nrrd", &head("raw"), &values(), false)).unwrap();
        let gz = read_nrrd(&write(dir.path(), "g.nrrd", &head("gzip"), &values(), true)).unwrap();
        assert_eq!(raw, gz);
        assert_eq!(raw.dims(), Dims::new(4, 3, 2));
        assert_eq!(*raw.at(1, 0, 0), -90.0);
        assert_eq!(*raw.at(0, 1, 0), -60.0);
        assert_eq!(*raw.at(0, 0, 1), 20.0);
        assert_eq!(raw.geometry.origin, [-10.0, 20.0, 30.5]);
        assert_eq!(raw.geometry.spacing, [0.5, 0.5, 2.0]);
    }

    #[test]
    fn ras_space_is_converted_to_lps() {
        let dir = tempfile::tempdir().unwrap();
        let h = "NRRD0005\ntype: int16\ndimension: 3\nspace: right-anterior-superior\nsizes: 4 3 2\n\
                 space directions: (-0.5,0,0) (0,-0.5,0) (0,0,2)\nencoding: raw\nspace origin: (10,-20,30)\n\n";
        let v = read_nrrd(&write(dir.path(), "ras.nrrd", h, &values(), false)).unwrap();
        assert_eq!(v.geometry.origin, [-10.0, 20.0, 30.0]);
        assert_eq!(v.geometry.direction[0], [1.0, 0.0, 0.0]);
        assert_eq!(v.geometry.direction[1], [0.0, 1.0, 0.0]);
    }

    #[test]
    fn detached_data_and_four_dimensions_are_refused_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let h = "NRRD0004\ntype: short\ndimension: 3\nsizes: 4 3 2\ndata file: x.raw\nencoding: raw\n\n";
        let e = read_nrrd(&write(dir.path(), "d.nrrd", h, &[], false)).unwrap_err();
        assert!(e.to_string().contains("detached"), "{e}");
        let h = "NRRD0004\ntype: short\ndimension: 4\nsizes: 4 3 2 1\nencoding: raw\n\n";
        let e = read_nrrd(&write(dir.path(), "4.nrrd", h, &values(), false)).unwrap_err();
        assert!(e.to_string().contains("dimension"), "{e}");
    }

    #[test]
    fn truncated_data_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let h = "NRRD0004\ntype: short\ndimension: 3\nsizes: 4 3 2\nencoding: raw\n\n";
        let e = read_nrrd(&write(dir.path(), "t.nrrd", h, &values()[..10], false)).unwrap_err();
        assert!(e.to_string().contains("t.nrrd"), "{e}");
    }
}
