#version 330 core
// Floor shading per pixel (the spot's pool of light is smaller than a floor
// triangle): sun and ambient, the spot cone with Lambert falloff, and a soft
// contact shadow under the object.

in vec2 v_xz;
flat in vec3 f_spot;
flat in vec3 f_spot_axis;
flat in vec3 f_spot_rgb;
flat in vec3 f_floor_rgb;
flat in vec2 f_center;

uniform vec2 u_floor;     // height, half extent
uniform vec3 u_sun_rgb;   // already scaled by the sun's elevation
uniform vec3 u_ambient;
uniform vec2 u_spot_cone; // cos(outer), cos(inner)
uniform vec2 u_shadow;    // 1/radius^2, strength

out vec4 o_color;

void main() {
    vec3 ls = f_spot - vec3(v_xz.x, u_floor.x, v_xz.y);
    float inv = inversesqrt(dot(ls, ls));
    float cone = smoothstep(u_spot_cone.x, u_spot_cone.y, dot(ls, f_spot_axis) * inv);
    float spot = ls.y * inv * cone;
    vec2 d = v_xz - f_center;
    float s = max(1.0 - dot(d, d) * u_shadow.x, 0.0);
    float shade = 1.0 - u_shadow.y * s * s;
    o_color = vec4(f_floor_rgb * (u_ambient + u_sun_rgb * shade + f_spot_rgb * spot), 1.0);
}
