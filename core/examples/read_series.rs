//! Reads a DICOM series folder and prints its geometry: `read_series FOLDER`.
fn main() {
    let folder = std::env::args().nth(1).expect("usage: read_series FOLDER");
    let t = std::time::Instant::now();
    match screener_core::dicom_series::read_series_folder(std::path::Path::new(&folder)) {
        Ok(s) => {
            let v = &s.volume;
            let (min, max) = v
                .data
                .iter()
                .fold((f32::MAX, f32::MIN), |(a, b), &x| (a.min(x), b.max(x)));
            println!(
                "dims {:?} geometry {:?} tilt {:.2} restacked {} HU [{min}, {max}] in {:.3} s",
                v.dims(),
                v.geometry,
                s.tilt_degrees,
                s.restacked,
                t.elapsed().as_secs_f64()
            );
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
