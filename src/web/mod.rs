//! bosun's web pages, rendered on the server: plain HTML, one stylesheet and one small script
//! (`assets/`), no build step. Each page is a pure function from the data the viewer may see
//! to HTML; the handlers in `server::ui` gather that data and check who may see it.

pub mod audit;
pub mod html;
pub mod locks;
pub mod overview;
pub mod repo;
pub mod run;

/// The stylesheet every page links (`/assets/app.css`).
pub const APP_CSS: &str = include_str!("../../assets/app.css");
/// The script every page loads (`/assets/app.js`): local times and the live log.
pub const APP_JS: &str = include_str!("../../assets/app.js");
